"""The pages' words, Chinese first with English: ``T[key] = (zh, en)``."""

from __future__ import annotations

from typing import Literal

Lang = Literal["zh", "en"]

T: dict[str, tuple[str, str]] = {
    "app": ("督查回头看", "Lookback"),
    "login": ("登录", "Log in"),
    "logout": ("退出", "Log out"),
    "name": ("用户名", "User name"),
    "password": ("密码", "Password"),
    "new_password": ("新密码（首次登录或重置后须修改）", "New password (after a first log-in or a reset)"),
    "login_failed": ("登录失败", "Log-in failed"),
    "my_visits": ("我的检查任务", "My visits"),
    "lookbacks": ("复查（回头看）", "Look-backs"),
    "outbox": ("待发送", "Outbox"),
    "team": ("督查组", "team"),
    "office": ("单位", "office"),
    "business": ("主体", "Business"),
    "address": ("地址", "Address"),
    "director": ("食品安全总监", "Food-safety director"),
    "officer": ("食品安全员", "Food-safety officer"),
    "status": ("状态", "Status"),
    "planned": ("待检查", "planned"),
    "done": ("已完成", "done"),
    "interviews": ("谈话", "Interviews"),
    "interview_of": ("谈话：", "Interview: "),
    "interviewee": ("谈话对象姓名", "Interviewee's name"),
    "pass": ("合格", "pass"),
    "fail": ("不合格", "fail"),
    "na": ("不适用", "n.a."),
    "note": ("说明", "Note"),
    "fail_needs_note": ("不合格项须填写说明", "A failed item needs a note"),
    "choose": ("请选择合格、不合格或不适用", "Choose pass, fail or n.a."),
    "save": ("保存（离线时排队发送）", "Save (queued when offline)"),
    "finding": ("记录问题", "Record a finding"),
    "category": ("问题类别", "Category"),
    "severity": ("严重程度", "Severity"),
    "description": ("问题描述", "Description"),
    "provision": ("违反的规定", "Provision breached"),
    "photos": ("照片（拍照或选择，自动压缩至1600像素以内）",
               "Photos (camera or files; scaled to at most 1600 px)"),
    "complete": ("完成本次检查", "Complete the visit"),
    "earlier_issues": ("该主体的问题", "This business's issues"),
    "no_issues": ("暂无问题", "No issues"),
    "due": ("整改期限", "Due"),
    "lookbacks_of": ("复查记录", "Look-backs"),
    "original": ("原问题", "Original finding"),
    "evidence": ("证据", "Evidence"),
    "outcome": ("复查结论", "Outcome"),
    "hard_measures": ("是否采取硬措施", "Were hard measures taken?"),
    "fixed": ("问题是否真正解决", "Is the problem really fixed?"),
    "mechanism": ("是否建立长效机制", "Is a lasting mechanism in place?"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    "record_check": ("记录复查", "Record the check"),
    "no_lookbacks": ("暂无待复查事项", "No open look-backs"),
    "assigned": ("我包保的主体", "My assigned businesses"),
    "this_period": ("本期督导", "This period's visit"),
    "not_opened": ("未开启", "not opened"),
    "record_supervision": ("记录督导", "Record a supervision visit"),
    "visit_date": ("督导日期", "Visit date"),
    "finding_optional": ("发现的问题（可选）", "A finding (optional)"),
    "leads": ("移送线索（每行一条，可选）", "Leads referred (one per line, optional)"),
    "my_issues": ("本单位的问题", "Our issues"),
    "notices": ("文书", "Notices"),
    "no_notices": ("暂无文书", "No notices"),
    "report_rectification": ("报告整改", "Report the rectification"),
    "measures": ("整改措施", "Measures taken"),
    "refused": ("无权访问", "Not allowed"),
    "refused_help": ("如认为有误，请联系本组组长或食安办。", "If this is wrong, ask your team leader or the office."),
    "back": ("返回", "Back"),
    "offline": ("当前离线", "You are offline"),
    "offline_help": ("此页面尚未缓存。已缓存的页面仍可打开，填写的内容会排队，联网后自动发送。",
                     "This page is not cached. Cached pages still open; what you fill in is "
                     "queued and sent when the device is back online."),
    "queued": ("排队中", "queued"),
    "sending": ("发送中", "sending"),
    "sent": ("已发送", "sent"),
    "refused_state": ("被拒绝", "refused"),
    "retry": ("重试", "Retry"),
    "discard": ("放弃", "Discard"),
    "queue_empty": ("没有待发送的内容", "Nothing waiting"),
    "unsent_warning": ("还有未发送的内容，退出后将无法发送。确定退出？",
                       "Some work has not been sent yet and cannot be sent after logging out. "
                       "Log out anyway?"),
    "overview": ("辖区概况", "Territory overview"),
    "region": ("地区", "Region"),
    "coverage": ("包保覆盖率", "Coverage"),
    "supervision_rate": ("督导完成率", "Supervision"),
    "rectification_rate": ("整改率", "Rectified"),
    "issues": ("问题", "Issues"),
    "more": ("更多", "More"),
    "language": ("English", "中文"),
    "campaign": ("督查", "Campaign"),
    "today": ("今日", "today"),
    "skip": ("跳到正文", "Skip to content"),
    "previous_page": ("上一页", "Previous"),
    "next_page": ("下一页", "Next"),
    "page_of": ("第 {page} / {pages} 页", "Page {page} of {pages}"),
    "visit_counts": ("共 {total} 家：待检查 {planned}，已完成 {done}",
                     "{total} visits: {planned} planned, {done} done"),
}


def t(key: str, lang: Lang) -> str:
    zh, en = T[key]
    return en if lang == "en" else zh


def add(words: dict[str, tuple[str, str]]) -> None:
    """More words (a console module's own), each key new: one table for every page."""
    taken = sorted(set(words) & set(T))
    if taken:
        raise ValueError(f"words defined twice: {', '.join(taken)}")
    T.update(words)
