"""The taxonomy as data: report categories, verdicts, case states and decision actions, in zh-CN and English.

Codes are part of the public API (`category`, `verdict`, `state`, `action` fields) and never change meaning.
Never import the store or the web layer from here: everything else imports this.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from qinglang.errors import Invalid


@dataclass(frozen=True)
class Category:
    code: str
    name_zh: str
    name_en: str
    description_zh: str
    description_en: str
    severity: int  # 1 (low) .. 5 (gravest); drives priority
    sla_hours: int  # default time the responsible organisation has to decide

    @property
    def sla(self) -> timedelta:
        return timedelta(hours=self.sla_hours)

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh" else self.name_en

    def description(self, lang: str) -> str:
        return self.description_zh if lang == "zh" else self.description_en


CATEGORIES: tuple[Category, ...] = (
    Category("rumor", "谣言与虚假信息", "Rumors and false information",
             "编造、传播虚假信息，如疫情、灾害、食品安全、公共安全方面的谣言。",
             "Fabricated or false claims, e.g. about epidemics, disasters, food safety or public safety.", 3, 72),
    Category("fraud", "诈骗与电信网络诈骗", "Fraud and telecom scams",
             "冒充公检法、客服退款、刷单返利、虚假投资理财、贷款等诈骗信息。",
             "Impersonation of police or officials, fake refunds, task scams, fake investments, loan scams.",
             5, 24),
    Category("porn", "色情低俗", "Pornography and vulgar content",
             "淫秽色情、低俗擦边内容及其引流信息。", "Pornographic or vulgar content and links promoting it.", 4, 48),
    Category("minors", "危害未成年人", "Harm to minors",
             "侵害未成年人身心健康的内容，如性剥削、诱导自残、网络欺凌。",
             "Content that endangers children: sexual exploitation, self-harm inducement, bullying.", 5, 24),
    Category("cybercrime", "网络犯罪与黑客攻击", "Cybercrime and hacking",
             "黑客攻击、木马病毒、钓鱼网站、出售黑产工具或数据。",
             "Hacking, malware, phishing sites, selling attack tools or stolen data.", 4, 48),
    Category("gambling", "赌博", "Gambling", "网络赌博、博彩推广与引流。",
             "Online gambling and its promotion.", 4, 48),
    Category("violence", "暴力恐怖", "Violence and terrorism", "宣扬暴力、恐怖主义、极端主义的内容。",
             "Content promoting violence, terrorism or extremism.", 5, 24),
    Category("hate", "仇恨与辱骂", "Hate and abuse", "辱骂、歧视、人身攻击与网络暴力。",
             "Insults, discrimination, personal attacks and online mobbing.", 3, 72),
    Category("privacy", "侵犯个人信息", "Personal-information infringement",
             "非法收集、出售、公开他人个人信息（人肉搜索、开盒）。",
             "Collecting, selling or exposing personal information (doxxing).", 4, 48),
    Category("other", "其他违法违规", "Other illegal content", "不属于以上类别的违法违规信息。",
             "Illegal content not covered by the categories above.", 2, 120),
)
CATEGORY_BY_CODE: dict[str, Category] = {c.code: c for c in CATEGORIES}
CATEGORY_CODES: tuple[str, ...] = tuple(CATEGORY_BY_CODE)


def category(code: str, *, field: str = "category") -> Category:
    """The category with this code, or `Invalid` naming the field."""
    try:
        return CATEGORY_BY_CODE[code]
    except KeyError:
        raise Invalid(f"unknown category {code!r}; expected one of {', '.join(CATEGORY_CODES)}",
                      field=field) from None


@dataclass(frozen=True)
class Label:
    code: str
    name_zh: str
    name_en: str

    def name(self, lang: str) -> str:
        return self.name_zh if lang == "zh" else self.name_en


VERDICTS: tuple[Label, ...] = (
    Label("false", "谣言（不实）", "False"),
    Label("misleading", "误导", "Misleading"),
    Label("partly_false", "部分不实", "Partly false"),
    Label("unproven", "尚无定论", "Unproven"),
    Label("true", "属实", "True"),
)
VERDICT_CODES: tuple[str, ...] = tuple(v.code for v in VERDICTS)

# ClaimReview ratings: 1 = false .. 5 = true, as schema.org's reviewRating expects.
VERDICT_RATING: dict[str, int] = {"false": 1, "misleading": 2, "partly_false": 2, "unproven": 3, "true": 5}

CASE_STATES: tuple[Label, ...] = (
    Label("new", "待分派", "New"),
    Label("routed", "已分派", "Routed"),
    Label("in_progress", "处理中", "In progress"),
    Label("actioned", "已处置", "Actioned"),
    Label("no_violation", "未发现违规", "No violation"),
    Label("referred", "已转交", "Referred"),
    Label("escalated", "已上报", "Escalated"),
    Label("appealed", "申诉中", "Under appeal"),
    Label("closed", "已结案", "Closed"),
)
CASE_STATE_CODES: tuple[str, ...] = tuple(s.code for s in CASE_STATES)
OPEN_CASE_STATES: frozenset[str] = frozenset({"new", "routed", "in_progress", "referred", "escalated", "appealed"})

ACTIONS: tuple[Label, ...] = (
    Label("remove", "删除", "Remove"),
    Label("restrict", "限制可见", "Restrict visibility"),
    Label("label", "标注辟谣信息", "Label with a debunk"),
    Label("warn", "警告账号", "Warn the account"),
    Label("no_violation", "未发现违规", "No violation"),
    Label("refer", "转交其他机构", "Refer to another organisation"),
    Label("escalate_law_enforcement", "移送执法机关", "Escalate to law enforcement"),
)
ACTION_CODES: tuple[str, ...] = tuple(a.code for a in ACTIONS)

DEBUNK_STATES: tuple[str, ...] = ("draft", "in_review", "published", "corrected", "withdrawn")
PUBLIC_DEBUNK_STATES: frozenset[str] = frozenset({"published", "corrected"})

ORG_KINDS: tuple[str, ...] = ("regulator", "agency", "platform", "fact_checker", "expert_panel", "volunteer_group")
ROLES: tuple[str, ...] = ("admin", "reviewer", "expert", "org_agent", "campaign_manager")
TOPICS: tuple[str, ...] = ("health", "food_safety", "disaster", "public_safety", "science", "finance_scam")


def check_code(value: str, allowed: tuple[str, ...], *, field: str) -> str:
    if value not in allowed:
        raise Invalid(f"{field} must be one of {', '.join(allowed)}; got {value!r}", field=field)
    return value


def label_name(labels: tuple[Label, ...], code: str, lang: str) -> str:
    for lab in labels:
        if lab.code == code:
            return lab.name(lang)
    return code
