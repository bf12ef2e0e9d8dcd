"""Strip web-page furniture from saved government pages and read the 首都之窗 metadata block.

Pages saved from beijing.gov.cn and bureau sites carry navigation, "PDF格式下载 / 收藏 / 打印 /
字号：大 中 小", share buttons, "相关解读" lists and footers. None of that is policy, and indexed it
would match every query about 打印 or 收藏.
"""

from __future__ import annotations

import re

_BLOCK_LINE = re.compile(r"^\s*(?:-\s*)?\[(?P<key>[^\]]{2,8})\]\s*(?P<value>.*?)\s*$")

# Whole lines that are page furniture wherever they appear.
_FURNITURE = re.compile(
    r"^\s*(?:-\s*)?(?:PDF格式下载|公报PDF|收藏|取消收藏|打印|字号[：:]?\s*大\s*中\s*小|分享[：:]?|X|-|"
    r"微信公众号|政务微博|政务公开\s*>.*|当前位置[：:].*|首页|放弃|关闭窗口|【打印本页】|【关闭窗口】|"
    r"扫一扫在手机打开当前页|无障碍|繁体|English)\s*$"
)
# Everything from one of these lines on is the page's footer, not the document.
_TRAILER = re.compile(
    r"^\s*(?:-\s*)?(?:相关解读|相关政策|相关文件|评价\s*建议|您访问的链接即将离开.*|关于我们\s+网站地图.*|"
    r"主办[：:].*承办[：:].*|网站标识码.*|.*alert\(.*)\s*$"
)
_SITE_SUFFIX = re.compile(r"^(?P<title>.+?)(?:[_\-－—](?:[^_\-－—]{1,20}))+$")
_META_LINE = re.compile(r"^\s*(?P<key>日期|来源|发布日期|发布时间|发文机关|文号)[：:]\s*(?P<value>.+?)\s*$")


def read_metadata_block(text: str) -> tuple[dict[str, str], str]:
    """Split `[主题分类] … [文件来源]` lines from the page. Returns (fields, text without them)."""
    fields: dict[str, str] = {}
    kept: list[str] = []
    for line in text.splitlines():
        match = _BLOCK_LINE.match(line)
        if match and match.group("key") in _BLOCK_KEYS:
            fields[match.group("key")] = match.group("value").replace("\u200b", "").strip()
            continue
        kept.append(line)
    return fields, "\n".join(kept)


_BLOCK_KEYS = {"主题分类", "发文机构", "联合发文单位", "实施日期", "成文日期", "发文字号", "废止日期",
               "发布日期", "有效性", "文件来源", "索引号", "主题词", "失效日期"}


def clean_page(text: str) -> tuple[str, dict[str, str]]:
    """Page text → (clean body, inline metadata like 日期/来源).

    The body keeps the document's own line structure; blank lines collapse so offsets into the
    cleaned body stay meaningful to a reader.
    """
    lines = [line.replace("\u200b", "").replace("\xa0", " ").rstrip() for line in text.splitlines()]
    lines = _skip_to_content(lines)
    inline: dict[str, str] = {}
    kept: list[str] = []
    for line in lines:
        if _TRAILER.match(line) and kept:
            break
        if _FURNITURE.match(line) or not line.strip():
            continue
        meta = _META_LINE.match(line)
        if meta and len(kept) <= 3:
            inline[meta.group("key")] = meta.group("value")
            continue
        kept.append(line.strip())
    return "\n".join(kept), inline


def _skip_to_content(lines: list[str]) -> list[str]:
    """When the first line is a browser title ("标题_政策文件_首都之窗_…"), jump to where the
    title is repeated as the heading of the content; navigation menus sit in between."""
    nonblank = [i for i, line in enumerate(lines) if line.strip()]
    if not nonblank:
        return lines
    first = lines[nonblank[0]].strip()
    match = _SITE_SUFFIX.match(first)
    if not match or ("_" not in first and "-" not in first):
        return lines
    title = match.group("title").strip()
    for i in nonblank[1:]:
        if lines[i].strip() == title:
            return lines[i:]
    return [title] + lines[nonblank[0] + 1:]
