/* Issue ledger on the map: filters, click-to-report, popups with history and next actions.
 * All user text is inserted with textContent (ccmap.el). */
(function () {
  "use strict";
  var ACTIONS = { accepted: "立案", rejected: "不予立案", dispatched: "派遣", handled: "处置完成",
                  verified: "核查通过", returned: "退回", closed: "结案", deferred: "挂账" };

  function el(tag, text, cls) { return window.ccmap.el(tag, text, cls); }

  function toast(text) { window.ccmap.toast(text); }

  function api(state, method, url, body, isForm) {
    return window.ccmap.api(method, url, body, isForm);
  }

  function num(n) { return Number(n || 0).toLocaleString("zh-CN"); }

  function rowText(e) { return "第" + e.row + "行 " + (e.column || "") + "：" + e.reason; }

  /* Poll a job (GET /api/jobs/{id}) until it is done or failed; onProgress sees each state. */
  function followJob(url, onProgress) {
    return new Promise(function (resolve, reject) {
      function poll() {
        window.ccmap.api("GET", url).then(function (job) {
          onProgress(job);
          if (job.state === "done") { resolve(job); return; }
          if (job.state === "failed") {
            var err = new Error(job.message || "导入失败");
            err.problems = (job.result && (job.result.problems || job.result.row_errors)) || [];
            reject(err);
            return;
          }
          window.setTimeout(poll, 500);
        }).catch(reject);
      }
      poll();
    });
  }

  /* A progress bar with a line of text and the row problems under the import button. */
  function importProgress(anchor) {
    var box = anchor.parentNode.querySelector(".ccmap-import-progress");
    if (!box) {
      box = el("div", null, "ccmap-import-progress");
      box.appendChild(el("progress"));
      box.appendChild(el("div", null, "ccmap-import-status"));
      box.appendChild(el("ul", null, "ccmap-import-errors"));
      anchor.parentNode.insertBefore(box, anchor.nextSibling);
    }
    var bar = box.querySelector("progress");
    var text = box.querySelector(".ccmap-import-status");
    var list = box.querySelector(".ccmap-import-errors");
    list.textContent = "";
    return {
      update: function (message, fraction) {
        text.textContent = message;
        if (fraction === null) { bar.removeAttribute("value"); } else { bar.value = fraction; }
      },
      problems: function (rows) {
        list.textContent = "";
        rows.slice(0, 20).forEach(function (e) { list.appendChild(el("li", rowText(e))); });
        if (rows.length > 20) { list.appendChild(el("li", "…共 " + num(rows.length) + " 处")); }
      }
    };
  }

  function select(name, options, allLabel) {
    var s = el("select");
    s.name = name;
    if (allLabel) { var all = el("option", allLabel); all.value = ""; s.appendChild(all); }
    Object.keys(options).forEach(function (code) {
      var o = el("option", options[code]);
      o.value = code;
      s.appendChild(o);
    });
    return s;
  }

  /* The snapshot of what the page shows now: its extent, visible layers and issue filters. */
  function snapshotUrl(state, fmt) {
    var b = state.map.getBounds();
    var visible = state.config.layers.filter(function (l) {
      return state.map.hasLayer(state.layers[l.kind]);
    }).map(function (l) { return l.kind; });
    return "/api/export/map?format=" + fmt + "&bbox=" +
      [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]
        .map(function (v) { return v.toFixed(6); }).join(",") +
      "&layers=" + encodeURIComponent(visible.join(",")) + (state.issueFilter || "") +
      (fmt === "pdf" ? "&" + (state.snapshotPaper || "paper=A4&landscape=true") : "");
  }

  /* The data of what the page shows (extent, visible layers, issue filters) as a download. */
  function dataUrl(state, fmt) {
    var kinds = state.config.layers.filter(function (l) {
      return state.map.hasLayer(state.layers[l.kind]) && state.config.kinds.indexOf(l.kind) >= 0;
    }).map(function (l) { return l.kind; });
    var b = state.map.getBounds();
    return "/api/export/data?format=" + fmt + "&coords=" + encodeURIComponent(state.config.coords ===
      "gcj02" ? "gcj02" : "wgs84") + "&bbox=" + [b.getWest(), b.getSouth(), b.getEast(),
      b.getNorth()].map(function (v) { return v.toFixed(6); }).join(",") +
      "&layers=" + encodeURIComponent(kinds.join(",")) + (state.issueFilter || "");
  }

  /* Popup of one issue: details, history (留痕), photos and the allowed next actions. */
  function popup(id, state) {
    var box = el("div", "加载中…", "ccmap-popup ccmap-issue");
    api(state, "GET", "/api/issues/" + id).then(function (issue) {
      box.textContent = "";
      box.appendChild(el("div", "#" + issue.id + " " + issue.category_label,
                         "ccmap-popup-title"));
      var badge = el("div", issue.status_label + (issue.overdue ? " · 已超期" : "") +
                     (issue.recurring_of ? " · 回潮" : ""), "ccmap-popup-kind");
      box.appendChild(badge);
      var table = el("table");
      [["问题描述", issue.description], ["地址", issue.address],
       ["来源", issue.source_label], ["上报人", issue.reporter],
       ["上报时间", (issue.reported_at || "").replace("T", " ")],
       ["整改时限", (issue.deadline || "").replace("T", " ")],
       ["责任单位", issue.unit || "（未覆盖区域）"], ["路长", issue.cadre]]
        .forEach(function (row) {
          if (!row[1]) { return; }
          var tr = el("tr");
          tr.appendChild(el("th", row[0]));
          tr.appendChild(el("td", row[1]));
          table.appendChild(tr);
        });
      box.appendChild(table);
      issue.photos.forEach(function (p) {
        var img = document.createElement("img");
        img.src = p.url;
        img.alt = p.stage === "after" ? "整改后" : "整改前";
        img.className = "ccmap-photo";
        box.appendChild(img);
      });
      box.appendChild(el("div", "处理记录", "ccmap-legend-title"));
      var list = el("ol", null, "ccmap-history");
      issue.history.forEach(function (h) {
        var label = (state.config.statuses[h.to_status] || {}).label || h.to_status;
        list.appendChild(el("li", h.at.replace("T", " ") + " " + h.actor.replace("user:", "") +
                            " → " + label + (h.note ? "：" + h.note : "")));
      });
      box.appendChild(list);
      var actions = el("div", null, "ccmap-actions");
      (issue.allowed_next || []).forEach(function (to) {
        var b = el("button", ACTIONS[to] || to);
        b.type = "button";
        b.dataset.to = to;
        b.addEventListener("click", function () {
          var note = window.prompt("处理说明（可选）", "") || "";
          api(state, "POST", "/api/issues/" + id + "/transitions",
              { to: to, version: issue.version, note: note })
            .then(function (updated) {
              state.map.closePopup();
              toast("#" + id + " 已" + (ACTIONS[to] || to) + "，当前状态：" + updated.status_label);
              state.load("issues");
            })
            .catch(function (err) { window.alert(err.message); });
        });
        actions.appendChild(b);
      });
      box.appendChild(actions);
    }).catch(function (err) { box.textContent = "无法加载：" + err.message; });
    return box;
  }

  function reportForm(state, latlng) {
    var cfg = state.config;
    var form = el("form", null, "ccmap-report");
    form.appendChild(el("div", "上报问题", "ccmap-popup-title"));
    form.appendChild(el("label", "问题类型"));
    form.appendChild(select("category", cfg.issueCategories, null));
    form.appendChild(el("label", "来源"));
    form.appendChild(select("source", cfg.sources, null));
    form.appendChild(el("label", "问题描述"));
    var desc = el("textarea");
    desc.name = "description";
    form.appendChild(desc);
    form.appendChild(el("label", "现场照片（JPEG/PNG）"));
    var photo = el("input");
    photo.type = "file";
    photo.accept = "image/jpeg,image/png";
    photo.name = "photo";
    form.appendChild(photo);
    var submit = el("button", "提交");
    submit.type = "submit";
    form.appendChild(submit);
    var msg = el("div", null, "ccmap-form-message");
    form.appendChild(msg);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var body = { category: form.category.value, source: form.source.value,
                   description: desc.value, lon: latlng.lng, lat: latlng.lat,
                   coords: cfg.coords };
      api(state, "POST", "/api/issues", body).then(function (issue) {
        var done = Promise.resolve();
        if (photo.files.length) {
          var fd = new FormData();
          fd.append("file", photo.files[0]);
          fd.append("stage", "before");
          done = api(state, "POST", "/api/issues/" + issue.id + "/photos", fd, true);
        }
        return done.then(function () {
          state.map.closePopup();
          toast("已上报 #" + issue.id + "，责任单位：" + (issue.unit || "未覆盖区域") +
                (issue.duplicate_candidates.length ? "；附近已有同类问题 #" +
                 issue.duplicate_candidates.join(", #") + "，可能重复" : ""));
          state.load("issues");
        });
      }).catch(function (err) { msg.textContent = "上报失败：" + err.message; });
    });
    return form;
  }

  function filterControl(state) {
    var cfg = state.config;
    var ctl = L.control({ position: "topleft" });
    ctl.onAdd = function () {
      var box = el("form", null, "ccmap-filter");
      box.appendChild(el("div", "问题筛选", "ccmap-legend-title"));
      var cat = select("category", cfg.issueCategories, "全部类型");
      var st = select("status", Object.keys(cfg.statuses).reduce(function (o, k) {
        o[k] = cfg.statuses[k].label; return o;
      }, {}), "全部状态");
      var src = select("source", cfg.sources, "全部来源");
      var com = select("community", (cfg.communities || []).reduce(function (o, n) {
        o[n] = n; return o;
      }, {}), "全部社区");
      [cat, st, src, com].forEach(function (s) { box.appendChild(s); });
      var from = el("input"); from.type = "date"; from.name = "from"; from.title = "起始日期";
      var to = el("input"); to.type = "date"; to.name = "to"; to.title = "截止日期";
      box.appendChild(from);
      box.appendChild(to);
      [["overdue", "只看超期"], ["recurring", "只看回潮"]].forEach(function (pair) {
        var label = el("label");
        var cb = el("input"); cb.type = "checkbox"; cb.name = pair[0];
        label.appendChild(cb);
        label.appendChild(el("span", pair[1]));
        box.appendChild(label);
      });
      box.appendChild(el("div", "按周回放（近 26 周）", "ccmap-legend-title"));
      var slider = el("input", null, "ccmap-week-slider");
      slider.type = "range";
      slider.name = "week";
      slider.min = "0";
      slider.max = "26";
      slider.value = "26";
      var weekLabel = el("div", "全部时间", "ccmap-week-label");
      var play = el("button", "▶ 播放", "ccmap-play");
      play.type = "button";
      box.appendChild(slider);
      box.appendChild(weekLabel);
      box.appendChild(play);
      play.addEventListener("click", function () {
        if (state.playing) {
          clearInterval(state.playing);
          state.playing = null;
          play.textContent = "▶ 播放";
          return;
        }
        slider.value = "0";
        play.textContent = "■ 停止";
        state.playing = setInterval(function () {
          if (state.loading > 0) { return; }  // wait for the previous week to draw
          if (+slider.value >= 25) {
            clearInterval(state.playing);
            state.playing = null;
            play.textContent = "▶ 播放";
          }
          slider.value = String(+slider.value + 1);
          box.dispatchEvent(new Event("change"));
        }, 1200);
        box.dispatchEvent(new Event("change"));
      });
      var level = select("choropleth_level", { zone: "按责任区", community: "按社区" }, null);
      var metric = select("choropleth_metric", cfg.choroplethMetrics, null);
      if (state.layers.choropleth) {  // not for unit users
        box.appendChild(el("div", "专题图", "ccmap-legend-title"));
        box.appendChild(level);
        box.appendChild(metric);
      }
      var exports = el("div", null, "ccmap-exports");
      ["csv", "xlsx"].forEach(function (fmt) {
        var a = el("a", fmt === "csv" ? "导出 CSV" : "导出 Excel");
        a.href = "#";
        a.dataset.format = fmt;
        a.addEventListener("click", function (ev) {
          ev.preventDefault();
          window.location.assign("/api/issues/export?format=" + fmt +
                                 (state.issueFilter || ""));
        });
        exports.appendChild(a);
      });
      box.appendChild(exports);
      if (state.layers.choropleth) {  // analysts (not unit users) export maps and bulletins
        var snaps = el("div", null, "ccmap-exports ccmap-snapshots");
        ["png", "pdf", "html"].forEach(function (fmt) {
          var a = el("a", "快照 " + fmt.toUpperCase());
          a.href = "#";
          a.dataset.format = fmt;
          a.addEventListener("click", function (ev) {
            ev.preventDefault();
            window.location.assign(snapshotUrl(state, fmt));
          });
          snaps.appendChild(a);
        });
        var paper = el("select", null, "ccmap-paper");
        paper.name = "paper";
        paper.title = "PDF 纸张";
        [["paper=A4&landscape=true", "A4 横"], ["paper=A4&landscape=false", "A4 竖"],
         ["paper=A3&landscape=true", "A3 横"], ["paper=A3&landscape=false", "A3 竖"]]
          .forEach(function (o) {
            var opt = el("option", o[1]);
            opt.value = o[0];
            paper.appendChild(opt);
          });
        paper.addEventListener("change", function () { state.snapshotPaper = paper.value; });
        snaps.appendChild(paper);
        ["gpkg", "geojson"].forEach(function (fmt) {
          var a = el("a", "数据 " + (fmt === "gpkg" ? "GPKG" : "GeoJSON"), "ccmap-data-link");
          a.href = "#";
          a.dataset.format = fmt;
          a.addEventListener("click", function (ev) {
            ev.preventDefault();
            window.location.assign(dataUrl(state, fmt));
          });
          snaps.appendChild(a);
        });
        var report = el("a", "周通报 PDF", "ccmap-report-link");
        report.href = "#";
        report.addEventListener("click", function (ev) {
          ev.preventDefault();
          var period = window.prompt("通报周期（如 2026-W47 或 2026-11）", "");
          if (period) {
            window.location.assign("/api/report?format=pdf&period=" +
                                   encodeURIComponent(period));
          }
        });
        snaps.appendChild(report);
        box.appendChild(snaps);
      }
      if (cfg.canReport) {
        var imp = el("label", "导入台账 (CSV/Excel)", "ccmap-import");
        var file = el("input");
        file.type = "file";
        file.name = "ledger";
        file.accept = ".csv,.xlsx";
        imp.appendChild(file);
        box.appendChild(imp);
        file.addEventListener("change", function (ev) {
          ev.stopPropagation();
          if (!file.files.length) { return; }
          var fd = new FormData();
          fd.append("file", file.files[0]);
          file.disabled = true;
          var shown = importProgress(imp);
          shown.update("上传中…", null);
          api(state, "POST", "/api/issues/import", fd, true).then(function (accepted) {
            return followJob(accepted.status_url, function (job) {
              shown.update(job.total === null ? "导入中…" :
                           "导入中 " + num(job.done) + " / " + num(job.total) + " 行",
                           job.total ? job.done / job.total : null);
            });
          }).then(function (job) {
            var r = job.result;
            shown.update("导入完成：导入 " + num(r.imported) + " 条，跳过已导入 " +
                         num(r.skipped) + " 条，错误 " + num(r.errors) + " 行", 1);
            shown.problems(r.row_errors);
            var first = r.row_errors.slice(0, 3).map(rowText).join("；");
            toast("导入 " + r.imported + " 条，跳过已导入 " + r.skipped + " 条，错误 " +
                  r.errors + " 行" + (first ? "（" + first + "）" : ""));
            state.load("issues");
          }).catch(function (err) {
            shown.update("导入失败：" + err.message, null);
            shown.problems(err.problems || []);
            toast("导入失败：" + err.message);
          }).then(function () {
            file.value = "";
            file.disabled = false;
          });
        });
      }
      box.addEventListener("change", function (ev) {
        if (ev.target && (ev.target.name === "ledger" || ev.target.name === "paper")) { return; }
        if (ev.target && ev.target.name.indexOf("choropleth_") === 0) {
          state.choroplethParams = "level=" + level.value + "&metric=" + metric.value;
          if (!state.map.hasLayer(state.layers.choropleth)) {
            state.map.addLayer(state.layers.choropleth);
          } else {
            state.load("choropleth");
          }
          return;
        }
        var params = new URLSearchParams();
        ["category", "status", "source", "community", "from", "to"].forEach(function (n) {
          if (box[n].value) { params.append(n, box[n].value); }
        });
        if (+slider.value < 26) {  // one week, counted back from the current week's Monday
          var monday = new Date();
          monday.setHours(0, 0, 0, 0);
          monday.setDate(monday.getDate() - ((monday.getDay() + 6) % 7) -
                         7 * (26 - +slider.value));
          var sunday = new Date(monday.getTime() + 7 * 864e5);
          var iso = function (d) {
            return d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") + "-" +
              String(d.getDate()).padStart(2, "0");
          };
          params.set("from", iso(monday));
          params.set("to", iso(sunday));
          weekLabel.textContent = iso(monday) + " 起一周";
        } else {
          weekLabel.textContent = "全部时间";
        }
        if (box.overdue.checked) { params.append("overdue", "true"); }
        if (box.recurring.checked) { params.append("recurring", "true"); }
        var qs = params.toString();
        state.issueFilter = qs ? "&" + qs : "";
        state.load("issues");
        ["heat", "hotspots"].forEach(function (k) {
          if (state.map.hasLayer(state.layers[k])) { state.load(k); }
        });
      });
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    };
    ctl.addTo(state.map);
  }

  function reportControl(state) {
    var map = state.map;
    // while picking a location a transparent layer over the features takes the click, so
    // no feature popup opens instead of the report form
    var capture = el("div", null, "ccmap-capture");
    capture.hidden = true;
    map.getContainer().appendChild(capture);
    var ctl = L.control({ position: "topleft" });
    ctl.onAdd = function () {
      var b = el("button", "上报问题", "ccmap-report-button");
      b.type = "button";
      b.title = "点击按钮后在地图上点选问题位置";
      L.DomEvent.disableClickPropagation(b);
      b.addEventListener("click", function () { setReporting(!state.reporting); });
      state.reportButton = b;
      return b;
    };
    function setReporting(on) {
      state.reporting = on;
      capture.hidden = !on;
      state.reportButton.classList.toggle("active", on);
      state.reportButton.textContent = on ? "请在地图上点选位置…" : "上报问题";
    }
    capture.addEventListener("click", function (ev) {
      var latlng = map.mouseEventToLatLng(ev);
      setReporting(false);
      L.popup({ minWidth: 260 }).setLatLng(latlng).setContent(reportForm(state, latlng))
        .openOn(map);
    });
    ctl.addTo(map);
  }

  /* Links from the dashboard open the map filtered: ?category=CODE or ?zone_name=NAME. */
  function applyUrlFilter(state) {
    var params = new URLSearchParams(window.location.search);
    var category = params.get("category");
    if (category) {
      var sel = document.querySelector(".ccmap-filter select[name=category]");
      if (sel) { sel.value = category; }
      state.issueFilter = "&category=" + encodeURIComponent(category);
    }
    var zoneName = params.get("zone_name");
    if (zoneName) {
      state.afterFirstLoad = function () {
        // zones drawn from vector tiles have no GeoJSON on the page: ask for this one
        var zones = state.layers.zone.getLayers
          ? Promise.resolve(state.layers.zone.getLayers())
          : window.ccmap.fetchCollection("/api/layers/zone?coords=" +
              encodeURIComponent(state.config.coords) + "&properties=" +
              encodeURIComponent(JSON.stringify({ name: zoneName })), 1)
            .then(function (doc) { return L.geoJSON(doc).getLayers(); });
        zones.then(function (layers) {
          var zone = layers.find(function (l) { return l.feature.properties.name === zoneName; });
          if (!zone) { toast("找不到责任区「" + zoneName + "」"); return; }
          state.issueFilter = "&zone=" + zone.feature.properties.id;
          state.map.fitBounds(zone.getBounds(), { maxZoom: 18 });
          toast("只显示「" + zoneName + "」的问题");
        });
      };
    }
  }

  function init(state) {
    state.issueFilter = "";
    filterControl(state);
    if (state.config.canReport) { reportControl(state); }
    applyUrlFilter(state);
  }

  window.ccmapIssues = { init: init, popup: popup, snapshotUrl: snapshotUrl };
})();
