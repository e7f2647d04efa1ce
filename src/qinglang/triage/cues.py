"""Hand-written cue patterns for fraud types and misinformation style, in Chinese and English.

Cues are explanations and priors, written from public anti-fraud guidance (the scripts police warn
about), not learned from any dataset. They only ever add evidence to a model score and name the reason;
never use a cue alone to decide a case.
"""

from __future__ import annotations

import re
import re._constants as _sre
import re._parser as _sre_parser
from dataclasses import dataclass
from typing import Any

FRAUD_TYPES: dict[str, tuple[str, str]] = {
    "police_official": ("冒充公检法及政府机关", "Impersonating police or officials"),
    "acquaintance": ("冒充领导、熟人", "Impersonating a boss, relative or friend"),
    "customer_service": ("虚假客服、退款理赔", "Fake customer service or refund"),
    "brushing_job": ("刷单返利、兼职任务", "Task, brushing or part-time job scam"),
    "investment": ("虚假投资理财", "Fake investment"),
    "loan": ("虚假贷款、征信", "Loan or credit-repair scam"),
    "romance": ("网络交友、杀猪盘", "Romance scam"),
    "phishing": ("钓鱼链接、账户验证", "Phishing link or account verification"),
    "prize": ("虚假中奖", "Fake prize or lottery"),
}


@dataclass(frozen=True)
class Cue:
    name: str  # fraud type code, or a misinformation-style cue name
    pattern: re.Pattern[str]
    weight: float  # log-odds added to the model's score when the cue fires


def _rx(*alts: str) -> re.Pattern[str]:
    return re.compile("|".join(alts), re.IGNORECASE)


FRAUD_CUES: tuple[Cue, ...] = (
    Cue("police_official", _rx(
        r"安全账户",
        r"(公安|检察|法院|警官|民警|网警).{0,20}(涉嫌|洗钱|通缉|逮捕|冻结|调查)",
        r"(洗钱|通缉令|逮捕令|传票).{0,20}(配合|转账|资金|核查|清查)",
        r"safe account",
        r"warrant.{0,40}(pay|gift card)",
        r"(social security|ssn).{0,40}suspend",
    ), 2.5),
    Cue("acquaintance", _rx(
        r"(我是|我是你们?).{0,6}(领导|老板|王总|李总|张总|班主任|老师|表舅|老同学).{0,40}(转|垫付|汇款|借)",
        r"(换号|新号|新微信).{0,30}(转|借|钱)",
        r"(new number|lost my phone|broke my phone).{0,60}(send|transfer|money|pay|rent)",
        r"(gift cards?).{0,40}(codes?)",
    ), 2.0),
    Cue("customer_service", _rx(
        r"(客服|理赔|退款|赔偿).{0,30}(银行卡|共享屏幕|下载|验证码|操作|链接)",
        r"(百万保障|学生账户|会员).{0,20}(扣费|注销|关闭)",
        r"(取消|关闭).{0,10}(自动扣费|扣费)",
        r"(refund|support).{0,60}(anydesk|teamviewer|remote|gift card|bank)",
    ), 2.0),
    Cue("brushing_job", _rx(
        r"刷单",
        r"(点赞|关注|做任务|兼职).{0,30}(佣金|返利|日结|日赚|提现|赚钱)",
        r"垫付.{0,20}(返还|佣金)",
        r"(卡单|连单)",
        r"(earn|make) \$?\d+.{0,30}(a day|per day|daily|from home)",
        r"(task|order).{0,40}(recharge|deposit|unlock|combo)",
    ), 2.0),
    Cue("investment", _rx(
        r"(稳赚|保本|保息|翻倍|内幕|带单|导师).{0,20}(收益|投资|股票|币|平台|群)?",
        r"(日|月|年化)收益.{0,6}\d",
        r"(guaranteed|risk[- ]free).{0,30}(return|profit)",
        r"double your (bitcoin|money|crypto)",
        r"\d+x returns",
    ), 2.0),
    Cue("loan", _rx(
        r"(解冻金|解冻费|保证金|会员费|刷流水).{0,20}(放款|到账|贷)?",
        r"(征信修复|洗白征信|消除逾期)",
        r"(无抵押|黑户|秒批).{0,20}贷",
        r"loan.{0,60}(fee|insurance).{0,30}(first|upfront|release)",
        r"(pay|send).{0,30}(processing|activation) fee",
    ), 2.0),
    Cue("romance", _rx(
        r"(亲爱的|宝贝|老公|老婆).{0,40}(投资|平台|博彩|充值|清关)",
        r"(维和|军官|医生).{0,30}(寄|清关|包裹)",
        r"(my love|darling|dear|honey).{0,80}(crypto|platform|customs|fee|send money)",
    ), 1.5),
    Cue("phishing", _rx(
        r"(点击|登录|访问).{0,15}(链接|网址|网站).{0,30}(验证|认证|冻结|失效|清零|退税|领取)",
        r"(账户|账号|etc|积分).{0,20}(异常|冻结|失效|清零).{0,30}(链接|登录|点击)",
        r"(verify|confirm|update).{0,30}(identity|password|card|account).{0,40}(link|here|http|within)",
        r"(account|mailbox).{0,20}(locked|limited|suspended|deleted)",
    ), 2.0),
    Cue("prize", _rx(
        r"(中奖|幸运(用户|观众)|获得.{0,6}奖).{0,40}(邮费|税|手续费|银行卡|身份证|领取)",
        r"(won|winner|congratulations).{0,60}(claim|prize|pay|fee|shipping|bank)",
    ), 2.0),
)

SPAM_CUES: tuple[Cue, ...] = (
    Cue("unsubscribe", _rx(r"(回|回复)\s*(t|td|n|r)\s*退订", r"退订回\s*(t|td|n)", r"拒收请回复", r"text stop",
                           r"reply stop", r"to opt[- ]?out", r"unsubscribe"), 2.0),
    Cue("promotion", _rx(r"(优惠|促销|特价|特惠|折扣|低至|全场|清仓|大酬宾|火热招生|开业|抢购|秒杀|满\s*#?\d*#?\s*减)",
                         r"(free entry|claim your|limited offer|special offer|% off|order now|call now)"), 1.0),
    Cue("contact_call", _rx(r"(欢迎(来电|致电|光临|惠顾|咨询)|详询|热线|咨询电话|联系电话|联系人)",
                            r"(call|text|txt) \S{0,6} ?#\d+#"), 0.8),
)

MISINFO_CUES: tuple[Cue, ...] = (
    Cue("urgent_share", _rx(
        r"(紧急)?(扩散|转发|转给|告诉)(家人|朋友|身边|更多人|大家)?",
        r"不转不是",
        r"share (before|this|to)",
        r"forward to everyone",
        r"copy and paste",
    ), 1.0),
    Cue("sensational", _rx(
        r"震惊",
        r"重磅",
        r"刚刚(发生|曝光)",
        r"惊天",
        r"breaking",
        r"shocking",
        r"wake up",
    ), 0.8),
    Cue("hidden_truth", _rx(
        r"(官方|媒体|政府).{0,6}(隐瞒|封锁|不报道|还没公布)",
        r"(内部|小道)消息",
        r"医生都不会告诉你",
        r"(hiding|covered up|censored|won't report|stay silent)",
    ), 1.0),
    Cue("miracle_health", _rx(
        r"(百分之百|根治|治愈|包治).{0,10}(癌|病|病毒)?",
        r"(致癌|有毒|投毒)",
        r"cures? (cancer|covid|diabetes)",
        r"(immune|prevent).{0,20}(virus|flu|covid)",
    ), 0.8),
    Cue("vague_source", _rx(
        r"(据说|听说|网传|有消息称|一个朋友)",
        r"(a friend who|i heard|they say|sources say)",
    ), 0.6),
)


def _combined(cues: tuple[Cue, ...], live: tuple[int, ...]) -> re.Pattern[str]:
    # One scan per text instead of one per cue; group names carry the cue index. Case-sensitive: `fire` gets
    # lower-cased text and the patterns are written in lower case (a test checks), and Python's regex engine
    # matched about a third faster without IGNORECASE on these patterns.
    return re.compile("|".join(f"(?P<c{i}>{cues[i].pattern.pattern})" for i in live))


_COMBINED: dict[tuple[int, tuple[int, ...]], re.Pattern[str]] = {}  # per cue set and subset scanned for


def fire(cues: tuple[Cue, ...], prepared: str) -> list[tuple[Cue, str]]:
    """The cues that match ``prepared`` text (lower-cased, as `features.prepare` gives it; in cue order), each
    with its first matched snippet. Only the cues one of whose literal openings (`_needles`) occurs in the text
    are scanned for: most texts contain none of most cues', and a substring test costs far less than the regex
    engine trying every alternative at every position (the scan of the others is what it would have been, since
    a cue that cannot match never takes a position from another)."""
    needles = _NEEDLES.get(id(cues))
    if needles is None:
        needles = _NEEDLES[id(cues)] = [_needles(c.pattern) for c in cues]
    live = tuple(i for i, nd in enumerate(needles) if nd is None or any(n in prepared for n in nd))
    if not live:
        return []
    rx = _COMBINED.get((id(cues), live))
    if rx is None:
        rx = _COMBINED[(id(cues), live)] = _combined(cues, live)
    found: dict[int, str] = {}
    pos = 0
    while len(found) < len(live):
        m = rx.search(prepared, pos)
        if m is None:
            break
        k = int(str(m.lastgroup)[1:])
        found.setdefault(k, m.group(0))
        # Restart just after the match start: a later cue can still match inside this span.
        pos = m.start() + 1
    return [(cues[k], found[k]) for k in sorted(found)]


_NEEDLES: dict[int, list[frozenset[str] | None]] = {}


def _needles(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """Literal strings one of which every match of ``pattern`` begins with, or None when its start is not a
    literal in every alternative (an optional group, a digit class)."""
    found = _openings(list(_sre_parser.parse(pattern.pattern, pattern.flags)))
    return frozenset(found) if found and all(found) else None


def _openings(items: list[tuple[Any, Any]]) -> set[str] | None:
    if not items:
        return None
    op, av = items[0]
    if op is _sre.LITERAL:
        run = []
        for op2, av2 in items:
            if op2 is not _sre.LITERAL:
                break
            run.append(chr(av2))
        return {"".join(run)}
    if op is _sre.SUBPATTERN:
        return _openings(list(av[3]))
    if op is _sre.BRANCH:
        out: set[str] = set()
        for alt in av[1]:
            sub = _openings(list(alt))
            if sub is None:
                return None
            out |= sub
        return out
    if op is _sre.IN and all(o is _sre.LITERAL for o, _ in av):
        return {chr(a) for _, a in av}
    return None
