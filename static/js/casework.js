/* The case clock in the issue popup: urgency, deadline and working hours left (剩余工作时 /
 * 超期), the clock's state (计时中/暂停), rework count and 督办, the 延期 applications with the
 * buttons the caller's role may use (申请延期; 批准/驳回), and the 退回返工 form (reason and
 * verification photo). Text goes in with textContent only (core.js el). */
import { api, dateTime, el, formEnd, labelled, t } from "./core.js";

/* A small label (紧急, 督办 …). */
function badge(text, cls) { return el("span", text, "ccmap-badge " + (cls || "")); }

function hoursText(h) { return (Math.round(Math.abs(h) * 10) / 10).toFixed(1); }

/* The clock line: state, working hours left or past the deadline. */
function clockLine(issue) {
  const line = el("div", null, "ccmap-clock");
  line.appendChild(badge(t(issue.urgency_label), issue.urgency === "urgent" ? "urgent" : ""));
  line.appendChild(badge(t(issue.clock_label), "clock-" + issue.clock));
  if (issue.escalated) { line.appendChild(badge(t("督办"), "escalated")); }
  const h = issue.due_in_working_hours;
  if (h !== null && h !== undefined) {
    const text = t(h < 0 ? t("超期 {h} 工作时")
      : issue.clock === "paused" ? t("暂停时剩余 {h} 工作时") : t("剩余 {h} 工作时"), { h: hoursText(h) });
    line.appendChild(el("span", text, "ccmap-due" + (issue.overdue ? " overdue" : "")));
  }
  if (issue.rework_count) { line.appendChild(el("span", t("返工 {n} 次", { n: issue.rework_count }))); }
  if (issue.extension_count) {
    line.appendChild(el("span", t("延期 {n} 次", { n: issue.extension_count })));
  }
  return line;
}

/* One application, with 批准/驳回 for a supervisor while it is pending. */
function extensionItem(ext, issue, done) {
  const li = el("li", t("#{id} 申请延期至 {until}：", { id: ext.id,
                                                    until: dateTime(ext.requested_deadline) }) +
                ext.reason + " — " + t(ext.state_label) +
                (ext.decision_note ? t("（{text}）", { text: ext.decision_note }) : ""));
  li.className = "ccmap-extension ext-" + ext.state;
  if (ext.state === "pending" && issue.may_decide_extension) {
    [[true, t("批准")], [false, t("驳回")]].forEach(function (pair) {
      const b = el("button", pair[1]);
      b.type = "button";
      b.dataset.decide = pair[0] ? "approve" : "reject";
      b.addEventListener("click", function () {
        const note = window.prompt(t("{action}意见（可选）", { action: pair[1] }), "");
        if (note === null) { return; }
        api("POST", "/api/extensions/" + ext.id + "/decision", { approve: pair[0], note: note })
          .then(function (d) { done(t("延期申请 #{id} {state}", { id: ext.id, state: t(d.state_label) })); })
          .catch(function (err) { window.alert(err.message); });
      });
      li.appendChild(b);
    });
  }
  return li;
}

/* The 申请延期 form: reason and the deadline asked for. */
function applyForm(issue, done) {
  const form = el("form", null, "ccmap-extension-form");
  form.hidden = true;
  const reason = labelled(form, t("延期理由"), "textarea", { name: "reason", required: true });
  const until = labelled(form, t("申请延期至"), "input", {
    name: "requested_deadline", placeholder: "YYYY-MM-DD HH:MM", required: true,
    pattern: "\\d{4}-\\d{2}-\\d{2}[ T]\\d{2}:\\d{2}" });
  const msg = formEnd(form, t("提交申请"));
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    api("POST", "/api/issues/" + issue.id + "/extensions",
        { reason: reason.value, requested_deadline: until.value })
      .then(function (ext) { done(t("已申请延期 #{id}，计时暂停，等待审批", { id: ext.id })); })
      .catch(function (err) { msg.textContent = t("申请失败：") + err.message; });
  });
  return form;
}

/* The clock section of an issue popup; done(message) after a change. */
export function clockSection(issue, done) {
  const box = el("div", null, "ccmap-casework");
  box.appendChild(clockLine(issue));
  if (issue.extensions.length) {
    box.appendChild(el("div", t("延期申请"), "ccmap-legend-title"));
    const list = el("ul", null, "ccmap-extensions");
    issue.extensions.forEach(function (ext) { list.appendChild(extensionItem(ext, issue, done)); });
    box.appendChild(list);
  }
  if (issue.may_apply_extension) {
    const form = applyForm(issue, done);
    const b = el("button", t("申请延期"), "ccmap-apply-extension");
    b.type = "button";
    b.addEventListener("click", function () { form.hidden = !form.hidden; });
    box.appendChild(b);
    box.appendChild(form);
  }
  return box;
}

/* 退回返工 after a failed 核查: the reason and a verification photo, both required; the photo
 * is uploaded (stage rework), then the case goes back with it. */
export function reworkForm(issue, done) {
  const form = el("form", null, "ccmap-rework-form");
  const reason = labelled(form, t("返工原因（必填）"), "textarea",
                          { name: "note", required: true });
  const photo = labelled(form, t("核查照片（必填，JPEG/PNG）"), "input",
                         { type: "file", accept: "image/jpeg,image/png", required: true });
  const msg = formEnd(form, t("退回返工"));
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    const fd = new FormData();
    fd.append("file", photo.files[0]);
    fd.append("stage", "rework");
    api("POST", "/api/issues/" + issue.id + "/photos", fd, true).then(function (p) {
      return api("POST", "/api/issues/" + issue.id + "/transitions",
                 { to: "returned", version: issue.version, note: reason.value, photo_id: p.id });
    }).then(function (updated) {
      done(t("#{id} 已退回返工（第 {n} 次）", { id: issue.id, n: updated.rework_count }) +
           (updated.flags.indexOf("escalated") >= 0 ? t("，已列入督办") : ""));
    }).catch(function (err) { msg.textContent = t("退回失败：") + err.message; });
  });
  return form;
}
