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

  var FILTER_DELAY_MS = 200;  // a burst of filter changes loads once
  var ZONE_OPTIONS = 20;  // zone names offered at a time (a city has thousands)
  var DAY = /^(\d{4})-(\d{2})-(\d{2})$/;

  /* The day a YYYY-MM-DD text names (a Date at local midnight), or null if it names none. */
  function parseDay(text) {
    var m = DAY.exec(text);
    if (!m) { return null; }
    var d = new Date(+m[1], +m[2] - 1, +m[3]);
    return d.getFullYear() === +m[1] && d.getMonth() === +m[2] - 1 && d.getDate() === +m[3]
      ? d : null;
  }

  function isoDay(d) {
    return d.getFullYear() + "-" + String(d.getMonth() + 1).padStart(2, "0") + "-" +
      String(d.getDate()).padStart(2, "0");
  }

  function nextDay(d) { return new Date(d.getFullYear(), d.getMonth(), d.getDate() + 1); }

  /* What is wrong with the from/to date fields, in words, or null. */
  function dateProblem(from, to) {
    var wrong = null;
    [from, to].forEach(function (input) {
      var text = input.value.trim();
      var bad = text !== "" && !parseDay(text);
      input.classList.toggle("ccmap-invalid", bad);
      input.setAttribute("aria-invalid", bad ? "true" : "false");
      if (bad && !wrong) {
        wrong = input.title + "「" + text + "」不是有效日期：请按 YYYY-MM-DD 填写（如 2026-01-05），" +
          "筛选未更新";
      }
    });
    if (!wrong && from.value.trim() && to.value.trim() &&
        parseDay(from.value.trim()) > parseDay(to.value.trim())) {
      wrong = "起始日期晚于截止日期，筛选未更新";
      from.classList.add("ccmap-invalid");
    }
    return wrong;
  }

  /* A date field that shows and takes YYYY-MM-DD whatever the browser's language: a text
   * field checked by dateProblem, with flatpickr's calendar (Chinese) to pick a day. The
   * calendar only writes into the field; what is typed is never parsed by it, so a wrong date
   * stays on screen with its message instead of being dropped. */
  function dateField(name, title, mark) {
    var wrap = el("span", null, "ccmap-date");
    var input = el("input");
    input.type = "text";
    input.name = name;
    input.title = title;
    input.placeholder = mark + " YYYY-MM-DD";
    input.setAttribute("pattern", "\\d{4}-\\d{2}-\\d{2}");
    input.setAttribute("inputmode", "numeric");
    input.autocomplete = "off";
    input.maxLength = 10;
    wrap.appendChild(input);
    if (!window.flatpickr) { return wrap; }
    var anchor = el("input");  // flatpickr's own field; the calendar shows under `input`
    wrap.appendChild(anchor);
    var picker = window.flatpickr(anchor, {
      dateFormat: "Y-m-d",
      locale: L.extend({}, (window.flatpickr.l10ns || {}).zh, { firstDayOfWeek: 1 }),
      clickOpens: false, disableMobile: true, positionElement: input,
      ignoredFocusElements: [input],
      onChange: function (days, text) {
        input.value = text;
        input.dispatchEvent(new Event("change", { bubbles: true }));
      }
    });
    anchor.type = "hidden";  // (flatpickr makes it a text field)
    input.addEventListener("focus", function () { picker.open(); });
    input.addEventListener("click", function () { picker.open(); });
    input.addEventListener("input", function () {  // the calendar follows what is typed
      var day = parseDay(input.value.trim());
      if (day) { picker.setDate(day, false); } else if (!input.value.trim()) { picker.clear(false); }
    });
    input.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape" || ev.key === "Tab") { picker.close(); }
    });
    return wrap;
  }

  /* The zone filter: type the start of a zone's name, pick one of the matches the server
   * offers (ZONE_OPTIONS at a time, and how many more match); the zone's id goes in the
   * hidden field `zone`. An unknown name is said under the field and changes nothing. */
  function zoneField(state) {
    var wrap = el("div", null, "ccmap-zone-filter");
    var input = el("input");
    input.type = "text";
    input.name = "zone_name";
    input.placeholder = "责任区（输入名称）";
    input.title = "责任区";
    input.autocomplete = "off";
    input.setAttribute("list", "ccmap-zone-options");
    var list = el("datalist");
    list.id = "ccmap-zone-options";
    var id = el("input");
    id.type = "hidden";
    id.name = "zone";
    var hint = el("div", null, "ccmap-zone-hint");
    hint.setAttribute("aria-live", "polite");
    [input, list, id, hint].forEach(function (n) { wrap.appendChild(n); });
    var found = {}, asked = 0, timer = null;

    function say(text, wrong) {
      hint.textContent = text;
      hint.classList.toggle("ccmap-filter-error", !!wrong);
    }
    function search(prefix) {
      var n = (asked += 1);
      return api(state, "GET", "/api/layers/zone/names?limit=" + ZONE_OPTIONS + "&prefix=" +
                 encodeURIComponent(prefix)).then(function (doc) {
        if (n !== asked) { return null; }  // an older answer than the last question
        list.textContent = "";
        found = {};
        var times = {};
        doc.items.forEach(function (z) { times[z.name] = (times[z.name] || 0) + 1; });
        doc.items.forEach(function (z) {
          var value = times[z.name] > 1 ? z.name + " #" + z.id : z.name;  // same names
          found[value] = z.id;
          var o = el("option");
          o.value = value;
          if (z.unit) { o.label = z.unit; }
          list.appendChild(o);
        });
        var more = doc.numberMatched - doc.numberReturned;
        say(more > 0 ? "另有 " + num(more) + " 个责任区匹配，请继续输入" :
            doc.numberMatched ? "" : "没有名称以「" + prefix + "」开头的责任区", false);
        return doc;
      }).catch(function (err) { say("无法查询责任区：" + err.message, true); return null; });
    }
    function choose(zoneId) {
      id.value = zoneId === null ? "" : String(zoneId);
      wrap.dispatchEvent(new Event("ccmap:apply", { bubbles: true }));
    }
    input.addEventListener("focus", function () { if (!list.firstChild) { search(""); } });
    input.addEventListener("input", function () {
      var text = input.value.trim();
      if (found[text] !== undefined) { choose(found[text]); return; }  // picked from the list
      clearTimeout(timer);
      timer = setTimeout(function () { search(text); }, FILTER_DELAY_MS);
    });
    input.addEventListener("change", function () {
      clearTimeout(timer);  // this search answers for the field; a later one would drop it
      var text = input.value.trim();
      if (!text) { say("", false); choose(null); return; }
      if (found[text] !== undefined) { choose(found[text]); return; }
      search(text).then(function (doc) {  // a whole name typed without picking it
        if (!doc) { return; }
        var same = doc.items.filter(function (z) { return z.name === text; });
        if (same.length === 1) { choose(same[0].id); return; }
        say(same.length ? "有 " + same.length + " 个同名责任区，请在列表中选择" :
            "找不到责任区「" + text + "」，筛选未更新", true);
      });
    });
    return wrap;
  }

  /* The filter panel's height: what the map leaves under the other controls on its left, so
   * the buttons under it stay on screen (the panel scrolls instead). */
  function fitPanel(state, box) {
    var col = box.parentNode;
    if (!col) { return; }
    var container = state.map.getContainer();
    var corner = container.querySelector(".leaflet-bottom.leaflet-left");
    var used = 0;
    Array.prototype.forEach.call(col.children, function (c) {
      if (c !== box) { used += c.offsetHeight + 10; }  // 10: a control's top margin
    });
    var room = container.clientHeight - used - 20 - (corner ? corner.offsetHeight : 0);
    box.style.maxHeight = Math.max(180, room) + "px";
  }

  function filterControl(state) {
    var cfg = state.config;
    var ctl = L.control({ position: "topleft" });
    ctl.onAdd = function () {
      var box = el("form", null, "ccmap-filter");
      box.noValidate = true;  // the page says what is wrong with a date (dateProblem)
      box.addEventListener("submit", function (ev) { ev.preventDefault(); });
      box.appendChild(el("div", "问题筛选", "ccmap-legend-title"));
      var named = function (list) {
        return (list || []).reduce(function (o, n) { o[n] = n; return o; }, {});
      };
      var cat = select("category", cfg.issueCategories, "全部类型");
      var st = select("status", Object.keys(cfg.statuses).reduce(function (o, k) {
        o[k] = cfg.statuses[k].label; return o;
      }, {}), "全部状态");
      var src = select("source", cfg.sources, "全部来源");
      var com = select("community", named(cfg.communities), "全部社区");
      var unit = select("unit", named(cfg.units), "全部责任单位");
      var grid = el("div", null, "ccmap-filter-grid");
      [cat, st, src, com, unit].forEach(function (s) {
        s.title = s.options[0].textContent.replace("全部", "");
        grid.appendChild(s);
      });
      box.appendChild(grid);
      box.appendChild(zoneField(state));
      var dates = el("div", null, "ccmap-filter-grid ccmap-dates");
      dates.appendChild(dateField("from", "起始日期", "起"));
      dates.appendChild(dateField("to", "截止日期（含当天）", "止"));
      box.appendChild(dates);
      var problem = el("div", null, "ccmap-filter-error");
      problem.setAttribute("role", "alert");
      problem.hidden = true;
      box.appendChild(problem);
      var checks = el("div", null, "ccmap-filter-row");
      [["overdue", "只看超期"], ["recurring", "只看回潮"]].forEach(function (pair) {
        var label = el("label");
        var cb = el("input"); cb.type = "checkbox"; cb.name = pair[0];
        label.appendChild(cb);
        label.appendChild(el("span", pair[1]));
        checks.appendChild(label);
      });
      box.appendChild(checks);
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
      var weekRow = el("div", null, "ccmap-filter-row");
      weekRow.appendChild(weekLabel);
      weekRow.appendChild(play);
      box.appendChild(weekRow);
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
        var choro = el("div", null, "ccmap-filter-grid");
        choro.appendChild(level);
        choro.appendChild(metric);
        box.appendChild(choro);
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
        var name = (ev.target && ev.target.name) || "";
        // the zone field applies itself once its name is resolved to a zone (zoneField)
        if (name === "ledger" || name === "paper" || name === "zone_name") { return; }
        if (name.indexOf("choropleth_") === 0) {
          state.choroplethParams = "level=" + level.value + "&metric=" + metric.value;
          if (!state.map.hasLayer(state.layers.choropleth)) {
            state.map.addLayer(state.layers.choropleth);
          } else {
            state.load("choropleth");
          }
          return;
        }
        scheduleApply();
      });
      box.addEventListener("ccmap:apply", scheduleApply);

      // Filters apply a moment after the last change (a burst of changes, as the slider's
      // arrow keys make, loads once); the wait counts as loading, like a due map refresh.
      var pending = null;
      function scheduleApply() {
        if (pending === null) { state.loading += 1; }
        clearTimeout(pending);
        pending = setTimeout(function () {
          pending = null;
          try { applyFilters(); } finally { state.loading -= 1; }
        }, FILTER_DELAY_MS);
      }

      /* Read the panel into state.issueFilter and reload the issue layers if it changed; a
       * wrong date is said under the dates and the filters stay as they were. */
      function applyFilters() {
        var params = new URLSearchParams();
        ["category", "status", "source", "community", "unit", "zone"].forEach(function (n) {
          if (box[n].value) { params.append(n, box[n].value); }
        });
        // the week slider, when used, stands for the dates
        var wrong = +slider.value < 26 ? null : dateProblem(box.from, box.to);
        problem.textContent = wrong || "";
        problem.hidden = !wrong;
        if (wrong) { return; }
        if (box.from.value) { params.append("from", box.from.value.trim()); }
        if (box.to.value) { params.append("to", isoDay(nextDay(parseDay(box.to.value.trim())))); }
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
        if ((qs ? "&" + qs : "") === state.issueFilter) { return; }  // nothing changed
        state.issueFilter = qs ? "&" + qs : "";
        state.load("issues");
        ["heat", "hotspots"].forEach(function (k) {
          if (state.map.hasLayer(state.layers[k])) { state.load(k); }
        });
      }
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    };
    ctl.addTo(state.map);
    var panel = ctl.getContainer();
    function fit() {
      fitPanel(state, panel);
      if (state.fitLegends) { state.fitLegends(); }  // the legends keep right of the panel
    }
    state.map.on("resize", fit);
    setTimeout(fit, 0);  // once the controls added after this one (zones, plan) are there
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
      // the map never sees this click: as a click on the map, it would close the form's popup
      L.DomEvent.stop(ev);
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
          var form = document.querySelector(".ccmap-filter");
          if (form) {  // the panel shows the zone, and later filters keep it
            form.zone.value = String(zone.feature.properties.id);
            form.zone_name.value = zoneName;
          }
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
