"""A real HTTP fake LLM on 127.0.0.1, speaking Gemini and OpenAI REST, with injected faults.

Provider tests point the real clients (google-genai, httpx) at it, so retries,
timeouts, key handling and JSON repair are exercised over real sockets rather
than through mocks. Only the standard library is used, so it also runs alone:

    python tests/fake_llm.py --port 8765 --fault-rate 0.3

Endpoints:
  POST /{v1beta|v1|v1alpha}/models/{model}:generateContent   (Gemini; key in x-goog-api-key or ?key=)
  POST /v1/chat/completions                                  (OpenAI; key in Authorization: Bearer)

The model's text is always JSON ``{"items": [...]}``; the item kind comes from the
request's JSON schema: ``{"text", "label"}`` items for classification (label enum)
or ``{"tokens", "tags"}`` items for BIO tagging (tags enum).

Key rejections mimic the real services, so providers are tested against what they
will really see: Gemini answers an unknown key with 400 INVALID_ARGUMENT (reason
API_KEY_INVALID) and a missing key with 403 PERMISSION_DENIED; OpenAI answers both
with 401 invalid_api_key. All of them count as "unauthorized".
"""

from __future__ import annotations

import argparse
import collections
import json
import random
import re
import socketserver
import sys
import threading
import time
import unicodedata
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

FAULT_KINDS = ("429", "500", "hang", "truncated", "wrong_labels", "duplicates")
ANSWERED = ("ok", "hang", "truncated", "wrong_labels", "duplicates")  # outcomes answered 200 with a text
NEAR_DUPLICATE = 0.85  # below the refiner's 0.9 character-3-gram Jaccard, with a margin


@dataclass(frozen=True)
class Faults:
    """Per-request probabilities of each fault; the rest of the requests are answered normally."""

    rate_429: float = 0.0  # 429 with a Retry-After header (value: retry_after)
    rate_500: float = 0.0  # 500 with a JSON error body
    rate_hang: float = 0.0  # sleep hang_seconds, then answer normally (the client should time out first)
    rate_truncated: float = 0.0  # 200, the JSON text cut mid-way (finishReason MAX_TOKENS / finish_reason "length")
    rate_wrong_labels: float = 0.0  # 200, valid JSON, some items invalid (unknown label/tag, missing key, ...)
    rate_duplicates: float = 0.0  # 200, some items repeat earlier items or items of the same response
    retry_after: str = "1"  # Retry-After header value, sent as is
    hang_seconds: float = 5.0

    def __post_init__(self) -> None:
        for kind, rate in self.rates().items():
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"rate_{kind} must be within [0, 1], not {rate}")
        if self.total > 1.0 + 1e-9:
            raise ValueError(f"fault rates add up to {self.total}, more than 1")
        if self.hang_seconds < 0:
            raise ValueError("hang_seconds must not be negative")

    @property
    def total(self) -> float:
        return sum(self.rates().values())

    def rates(self) -> dict[str, float]:
        """Fault kind -> rate, in the fixed order outcomes are drawn in."""
        return {kind: getattr(self, f"rate_{kind}") for kind in FAULT_KINDS}

    @classmethod
    def spread(cls, rate: float, **options: Any) -> Faults:
        """``rate`` split evenly over all fault kinds (``options``: retry_after, hang_seconds)."""
        return cls(**{f"rate_{kind}": rate / len(FAULT_KINDS) for kind in FAULT_KINDS}, **options)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server understood it. Keys are never stored: only their index in valid_keys."""

    api: str  # "gemini" or "openai"
    model: str
    prompt: str  # all system and user text, joined by newlines
    schema: dict[str, Any] | None  # the response JSON schema as sent
    key_id: int | None  # index into valid_keys; None when keys are not checked or the key was rejected
    outcome: str  # what the server did: "ok", a fault kind, "unauthorized", "bad_request"
    body: dict[str, Any] = field(repr=False, default_factory=dict)  # the parsed JSON body (keys are in headers/query)


@dataclass(frozen=True)
class ItemSpec:
    kind: str  # "classification" or "tagging"
    labels: tuple[str, ...]  # the label enum, or the BIO tag enum


# ---------------------------------------------------------------- vocabulary
# About 300 words in the slots of a small grammar, so texts read like requests a user
# might type. Random 4-12 word draws from it are diverse; _Writer rejects the rare
# draw that is one word away from an earlier text (measured: pairs stay below 0.7).
_EN = {
    "opener": "please|can you|could you|I want to|I need to|let's|remind me to|help me|don't forget to|we should"
    "|why can't I|how do I|when can we|is it possible to|try to|I'd like to|time to|did you|maybe we could|go and",
    "verb": "book cancel check scrub close fetch deliver download email find fix follow grab hang install invite keep"
    " label lock measure move open order organize paint pick print publish read rebuild record refill rename repair"
    " replace reschedule review schedule send share ship sort start stop track translate unlock update upload wash"
    " water wrap visit charge compare borrow return clear",
    "det": "the my our a this that your his her their",
    "adj": "old new broken quiet noisy shared blue green yellow heavy tiny huge spare main weekly monthly urgent"
    " overdue wooden plastic favorite empty missing extra second final cheap expensive local remote public private"
    " dusty fresh frozen warm bright dark slow busy strange simple fancy cozy messy purple silver orange",
    "noun": "kitchen garage invoice laptop printer bicycle garden meeting report ticket flight hotel dentist birthday"
    " package jacket umbrella passport calendar playlist recipe budget contract spreadsheet window ceiling basement"
    " fridge oven heater charger battery camera keyboard monitor router password account newsletter podcast"
    " painting sofa curtain carpet mirror lamp blanket pillow towel shelf drawer cabinet suitcase backpack wallet"
    " notebook pencil envelope parcel letter message appointment interview presentation workshop conference"
    " lecture seminar exam homework project deadline proposal summary draft chapter article magazine newspaper"
    " library museum theater stadium station airport harbor bakery pharmacy vegetables apples coffee soup salad"
    " sandwich pizza noodles dumplings cookies bread",
    "prep": "in|on|near|behind|under|next to|for|with|before|after|without|from|inside|above|across from",
    "time": "today|tomorrow|tonight|this weekend|next week|on Monday|on Tuesday|on Thursday|before lunch"
    "|after dinner|by Friday|right now|later|in the morning|every day|at noon|this afternoon|next month|soon"
    "|on Sunday evening|first thing tomorrow|before the holidays",
    "tagverb": "call|email|meet|visit|ask|invite|thank|remind|text|pay|tell|congratulate",
    "topic": "about|regarding|with|after",
    "place_prep": "in|at|near|from|outside",
}
_ZH = {
    "opener": "请 帮我 我想 麻烦你 能不能 记得 我们 你可以 别忘了 我需要",
    "verb": "打开 关闭 查看 预订 取消 安排 修理 整理 打印 发送 下载 上传 检查 更新 购买 清洗 准备 提醒 搬走 寄出"
    " 翻译 记录 分享 归还 借用 收拾 确认 推迟 联系 打扫",
    "adj": "新的 旧的 重要的 附近的 红色的 便宜的 最近的 那个 这个 所有的 剩下的 坏掉的 常用的 安静的 大号的",
    "noun": "会议 天气 音乐 航班 餐厅 文件 电脑 打印机 自行车 花园 报告 车票 酒店 牙医 生日 包裹 外套 雨伞 护照 日历"
    " 歌单 菜谱 预算 合同 表格 窗户 冰箱 烤箱 充电器 电池 相机 键盘 显示器 路由器 密码 账户 快递 沙发 窗帘 地毯"
    " 镜子 台灯 毛毯 枕头 毛巾 书架 抽屉 行李箱 背包 钱包 笔记本 信封 邮票 面试 讲座 考试 作业 项目 方案 草稿"
    " 文章 杂志 图书馆 博物馆 剧院 车站 机场 面包 咖啡 水果 蔬菜 米饭 饺子 蛋糕",
    "place": "办公室 家里 学校 公司 楼下 超市 医院 银行 北京 上海 广州 杭州 成都 南京",
    "time": "明天 今天 今晚 下周 周末 早上 下午 马上 周一 月底 晚饭后 午饭前",
    "tagverb": "联系 拜访 邀请 感谢 提醒 通知 询问 见到",
}
# Entity surfaces per kind; "|" separates entities, spaces separate English tokens.
_ENTITIES = {
    "en": {
        "person": "Maria Lopez|Chen Wei|Amara Okafor|Liam|Sofia Rossi|Hiro Tanaka|Fatima|Jonas Berg|Priya Nair"
        "|Noah Smith|Elena Petrova|Kwame Mensah|Ana Lima|Oscar|Ingrid Holm|Raj Patel|Lucia Moreno|Tom Baker",
        "place": "Paris|New York|Lake Como|Berlin|Cape Town|San Diego|Kyoto|Lisbon|Nairobi|Buenos Aires|Oslo"
        "|Hong Kong|Mexico City|Toronto|Dublin|Salt Lake City|Cairo|Seoul|Hanoi|Lima",
        "org": "Acme Corp|Globex|Initech|United Nations|Red Cross|Northwind Traders|Blue Harbor Bank|Contoso Labs"
        "|Oceanic Airlines|Hooli|Vandelay Industries|City Library|Green Valley School",
        "other": "Project Falcon|Orion|Silver Line|Atlas|Nova Prime|Jade Award|Summer Fest|Model X|Harbor Run",
    },
    "zh": {
        "person": "张伟|李娜|王芳|刘洋|陈静|杨磊|赵敏|黄晓明|周杰|吴雪|孙丽|马超",
        "place": "北京|上海|广州|杭州|成都|南京|武汉|西安|重庆|苏州|深圳|天津",
        "org": "华为公司|清华大学|中国银行|北京大学|腾讯|人民医院|中山大学|招商银行|南方航空|复旦大学",
        "title": "工程师|经理|教授|董事长|主任|会计师|研究员|总监",
        "edu": "本科|硕士|博士|大专|研究生|中专",
        "country": "中国|美国|日本|德国|法国|英国",
        "other": "星火计划|长城|黄河|汉族|经济学|计算机专业",
    },
}
# Entity type (as in a tag "B-TYPE") -> entity kind, by the first keyword found in the type.
_KIND_KEYWORDS = (
    ("PER", "person"),
    ("NAME", "person"),
    ("LOC", "place"),
    ("GPE", "place"),
    ("CITY", "place"),
    ("ORG", "org"),
    ("COMP", "org"),
    ("TITLE", "title"),
    ("EDU", "edu"),
    ("CONT", "country"),
    ("COUNTRY", "country"),
)


def _words(spec: str) -> list[str]:
    return spec.split("|") if "|" in spec else spec.split()


def shingles(text: str) -> set[str]:
    """Character 3-grams of the dedupe key, as forge.near_duplicates computes them (spaces dropped)."""
    key = "".join(unicodedata.normalize("NFKC", text).casefold().split())
    return {key} if len(key) <= 3 else {key[i : i + 3] for i in range(len(key) - 2)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


class _Writer:
    """Seeded builder of item texts that never repeats a text, nor comes near one, over its lifetime.

    Near-duplicates of random sentences come from one-word edits (a word swapped,
    inserted or dropped). Every text is indexed under itself and each of its
    one-word deletions; a candidate sharing any of those keys with an earlier text
    is compared exactly, and redrawn if it is too similar.
    """

    def __init__(self, rng: random.Random, language: str) -> None:
        if language not in ("en", "zh"):
            raise ValueError(f"language must be 'en' or 'zh', not {language!r}")
        self.rng, self.language = rng, language
        self.vocab = {slot: _words(spec) for slot, spec in (_EN if language == "en" else _ZH).items()}
        self.entities = {kind: _words(spec) for kind, spec in _ENTITIES[language].items()}
        self._seen: set[tuple[str, ...]] = set()  # casefolded word sequences of every text so far
        self._index: dict[tuple[str, ...], list[set[str]]] = collections.defaultdict(list)  # see the docstring

    def _fresh(self, build: Callable[[], tuple[list[str], str]]) -> tuple[list[str], str]:
        """Redraw ``build()`` -> (units, text) until the text is new and not near any earlier one."""
        for _ in range(10_000):
            units, text = build()
            folded = [unit.casefold() for unit in units]
            if not 4 <= len(units) <= 12 or tuple(folded) in self._seen:
                continue  # the same words again, if only in another case or with other punctuation
            grams = shingles(text)
            keys = [tuple(folded)] + [tuple(folded[:i] + folded[i + 1 :]) for i in range(len(folded))]
            if any(jaccard(grams, other) >= NEAR_DUPLICATE for key in keys for other in self._index.get(key, ())):
                continue
            for key in keys:
                self._index[key].append(grams)
            self._seen.add(tuple(folded))
            return units, text
        raise RuntimeError("the fake LLM ran out of fresh texts")

    def _pick(self, slot: str) -> list[str]:
        return self.rng.choice(self.vocab[slot]).split()

    def _maybe(self, slot: str, p: float = 0.5) -> list[str]:
        return self._pick(slot) if self.rng.random() < p else []

    def _join(self, units: list[str]) -> str:
        return ("" if self.language == "zh" else " ").join(units)

    def sentence(self) -> str:
        """A 4-12 word request, e.g. "Could you email our overdue invoice before lunch?"."""

        def build() -> tuple[list[str], str]:
            pick, maybe = self._pick, self._maybe
            if self.language == "zh":
                place = ["在", *pick("place")] if self.rng.random() < 0.4 else []
                units = [*maybe("opener", 0.6), *maybe("time", 0.5), *place, *pick("verb"), *maybe("adj", 0.4)]
                units += pick("noun")
                return units, self._join(units) + self.rng.choice(["。", "？", "", "吧"])
            opener = maybe("opener", 0.7)
            units = [*opener, *pick("verb"), *pick("det"), *maybe("adj"), *pick("noun")]
            if self.rng.random() < 0.5:
                units += [*pick("prep"), *pick("det"), *maybe("adj", 0.3), *pick("noun")]
            units += maybe("time", 0.4)
            question = opener[:1] in (["can"], ["could"], ["why"], ["how"], ["when"], ["is"], ["did"])
            text = self._join(units) + ("?" if question else self.rng.choice([".", "", "!"]))
            return units, text[0].upper() + text[1:] if self.rng.random() < 0.5 else text

        return self._fresh(build)[1]

    def tagged(self, tags: Collection[str]) -> tuple[list[str], list[str]]:
        """Tokens with consistent BIO tags; entities are drawn for the types the tag enum allows."""
        types = sorted({t[2:] for t in tags if t.startswith("B-")})
        continued = {t[2:] for t in tags if t.startswith("I-")}

        def entity() -> list[tuple[str, str]]:
            if not types:
                return []
            kind = self.rng.choice(types)
            pool = next((p for key, p in _KIND_KEYWORDS if key in kind.upper()), "other")
            surface = self.rng.choice(self.entities.get(pool) or self.entities["other"])
            tokens = list(surface) if self.language == "zh" else surface.split()
            if kind not in continued:
                tokens = tokens[:1]  # the enum has no I- tag to continue the entity with
            return [(token, ("B-" if i == 0 else "I-") + kind) for i, token in enumerate(tokens)]

        def words(slot: str, p: float = 1.0) -> list[tuple[str, str]]:
            return [(w, "O") for w in self._maybe(slot, p)]

        pairs: list[tuple[str, str]] = []

        def build() -> tuple[list[str], str]:
            if self.language == "zh":  # words and entity characters; split into characters below
                units = [*words("opener", 0.5), *words("time", 0.5), *words("tagverb"), *entity()]
                if self.rng.random() < 0.5:
                    units += [("和", "O"), *entity()]
                if self.rng.random() < 0.5:
                    units += [("的", "O"), *words("noun")]
            else:
                units = [*words("opener", 0.6), *words("tagverb"), *entity()]
                if self.rng.random() < 0.5:
                    units += [*words("topic"), *words("det"), *words("noun")]
                if self.rng.random() < 0.6:
                    units += [*words("place_prep"), *entity()]
                units += words("time", 0.4)
            pairs[:] = units
            return [u for u, _ in units], self._join([u for u, _ in units])

        self._fresh(build)
        if self.language == "en":
            return [u for u, _ in pairs], [t for _, t in pairs]
        tokens: list[str] = []  # character tokens, as in Chinese NER data
        bio: list[str] = []
        for unit, tag in pairs:
            for i, char in enumerate(unit):
                tokens.append(char)
                bio.append(tag if i == 0 or tag == "O" else "I-" + tag[2:])
        return tokens, bio


# ---------------------------------------------------------------- request parsing
_GEMINI_PATH = re.compile(r"^/(?P<version>v1beta|v1|v1alpha)/models/(?P<model>[^/:]+):generateContent$")
_PROMPT_LABELS_JSON = re.compile(r"labels?\W{0,3}[:=]\s*(\[[^\]]*\])", re.IGNORECASE)
_PROMPT_LABELS_LIST = re.compile(r"labels?\s*[:=]\s*([^\n\[]+)", re.IGNORECASE)


def _resolve(root: Any, node: Any, depth: int = 0) -> dict[str, Any]:
    """``node`` with a local "$ref" ("#/$defs/Item") followed; {} for anything that is not a schema."""
    if isinstance(node, dict) and isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/") and depth < 8:
        target = root
        for part in node["$ref"][2:].split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        return _resolve(root, target, depth + 1)
    return node if isinstance(node, dict) else {}


def _enum(root: Any, node: Any) -> tuple[str, ...]:
    """The string enum of a schema node, also when it sits in one branch of anyOf/oneOf (nullable fields)."""
    node = _resolve(root, node)
    for candidate in [node, *node.get("anyOf", []), *node.get("oneOf", [])]:
        values = _resolve(root, candidate).get("enum")
        if isinstance(values, list) and values and all(isinstance(v, str) for v in values):
            return tuple(values)
    return ()


def item_spec(schema: Any) -> ItemSpec | None:
    """The item kind a response schema asks for, or None when it is neither classification nor tagging.

    Only the structure keys (properties, items, enum, $ref) are read, so JSON Schema
    ("object") and Gemini's OpenAPI subset ("OBJECT") are both understood.
    """
    items = _resolve(schema, _resolve(schema, schema).get("properties", {}).get("items"))
    fields = _resolve(schema, _resolve(schema, items.get("items")).get("properties"))
    if "text" in fields and "label" in fields:
        labels = _enum(schema, fields["label"])
        return ItemSpec("classification", labels) if labels else None
    if "tokens" in fields and "tags" in fields:
        tags = _enum(schema, _resolve(schema, fields["tags"]).get("items"))
        return ItemSpec("tagging", tags) if tags else None
    return None


def labels_in_prompt(prompt: str) -> tuple[str, ...]:
    """Labels listed in a prompt ("labels: ["a", "b"]" or "Labels: a, b"), for json_object mode."""
    if match := _PROMPT_LABELS_JSON.search(prompt):
        try:
            values = json.loads(match.group(1))
        except json.JSONDecodeError:
            values = None
        if isinstance(values, list) and values and all(isinstance(v, str) for v in values):
            return tuple(values)
    if match := _PROMPT_LABELS_LIST.search(prompt):
        values = [v.strip().strip("\"'`.").strip() for v in re.split(r"[,|]", match.group(1))]
        if len([v for v in values if v]) >= 2:
            return tuple(v for v in values if v)
    return ()


def _texts(parts: Any) -> list[str]:
    """The text of Gemini parts, or of OpenAI content (a string or a list of {"type": "text"} parts)."""
    if isinstance(parts, str):
        return [parts]
    if isinstance(parts, list):
        return [p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str)]
    return []


def _gemini_request(body: dict[str, Any]) -> tuple[str, Any]:
    """(prompt, schema) of a generateContent body (camelCase as google-genai sends it; snake_case too)."""
    texts = _texts(_resolve(None, body.get("systemInstruction") or body.get("system_instruction")).get("parts"))
    contents = body.get("contents")
    for content in contents if isinstance(contents, list) else [contents]:
        texts += _texts(_resolve(None, content).get("parts"))
    config = _resolve(None, body.get("generationConfig") or body.get("generation_config"))
    names = ("responseJsonSchema", "response_json_schema", "responseSchema", "response_schema")
    schema = next((config[n] for n in names if config.get(n) is not None), None)
    return "\n".join(texts), schema


def _openai_request(body: dict[str, Any]) -> tuple[str, Any]:
    """(prompt, schema) of a chat-completions body: system, developer and user messages."""
    messages = body.get("messages")
    texts = [
        text
        for message in (messages if isinstance(messages, list) else [])
        if isinstance(message, dict) and message.get("role") in ("system", "developer", "user")
        for text in _texts(message.get("content"))
    ]
    response_format = _resolve(None, body.get("response_format"))
    schema = None
    if response_format.get("type") == "json_schema":
        schema = _resolve(None, response_format.get("json_schema")).get("schema")
    return "\n".join(texts), schema


# ---------------------------------------------------------------- the server
class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a hanging handler must never keep the test process alive
    fake: FakeLLM

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can take seconds on machines with slow DNS.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        # socketserver prints tracebacks to stderr; remember real bugs instead, ignore hang-ups.
        self.fake._record_error(sys.exc_info()[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real services: clients reuse pooled connections
    disable_nagle_algorithm = True  # headers and body go out in two writes; Nagle + delayed ACK would add 40 ms
    server: _Server

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def _dispatch(self, method: str) -> None:
        fake = self.server.fake
        try:
            fake._handle(self, method)
        except Exception as exc:  # one bad request must not take the server down: answer 500, keep the reason
            fake._record_error(exc)
            # "Connection: close" tells the client not to reuse this socket, which the server closes next.
            error = {"error": {"code": 500, "message": f"fake LLM bug: {exc!r}", "status": "INTERNAL"}}
            self.reply(500, error, headers={"Connection": "close"})
            self.close_connection = True
        if fake._closing.is_set():
            self.close_connection = True

    def reply(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except (ConnectionError, TimeoutError):  # the client gave up (timed out on a hang): nothing to answer
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass  # silent: tests make hundreds of requests, and stderr belongs to the test output


class FakeLLM:
    """Fake Gemini + OpenAI endpoint, served from a background thread until close() (or the with-block ends).

    Outcomes are drawn from ``random.Random(seed)`` under a lock in arrival order, and
    item texts from a second seeded generator, so sequential clients see exactly the
    same responses on every run.
    """

    def __init__(
        self,
        faults: Faults = Faults(),  # noqa: B008 - frozen dataclass, safe as a default
        seed: int = 0,
        items_per_response: int = 10,
        valid_keys: Collection[str] | None = None,  # None: keys are not checked; else key_id = index in it
        language: str = "en",  # "en" or "zh"
        *,
        port: int = 0,  # 0: any free port
    ) -> None:
        if items_per_response < 1:
            raise ValueError("items_per_response must be at least 1")
        self.faults = faults
        self.items_per_response = items_per_response
        self._keys = tuple(valid_keys) if valid_keys is not None else None
        self.stats: collections.Counter[str] = collections.Counter()
        self.requests: list[RecordedRequest] = []
        self.errors: list[str] = []  # exceptions inside the server (bugs of the fake), as "Type: message"
        self._outcomes = random.Random(f"{seed}/outcomes")
        self._content = random.Random(f"{seed}/content")
        self._writer = _Writer(self._content, language)
        self._delivered: list[dict[str, Any]] = []  # valid items of parseable responses, for the duplicates fault
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.fake = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.openai_base_url = self.url + "/v1"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-llm", daemon=True
        )
        self._thread.start()

    def __enter__(self) -> FakeLLM:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:  # never shows keys
        return f"FakeLLM({self.url}, {dict(self.stats)})"

    def close(self) -> None:
        """Stop serving; hanging handlers wake up at once. Safe to call twice."""
        if self._closing.is_set():
            return
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # ------------------------------------------------------------ one request
    def _handle(self, handler: _Handler, method: str) -> None:
        url = urlsplit(handler.path)
        raw = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        gemini = _GEMINI_PATH.match(url.path)
        api = "gemini" if gemini else "openai" if url.path == "/v1/chat/completions" else ""
        if method != "POST" or not api:
            with self._lock:
                self.stats["not_found"] += 1
            api = "openai" if url.path.startswith("/v1/chat") else "gemini"
            handler.reply(404, self._error(api, 404, f"{method} {url.path} is not served by the fake LLM"))
            return

        if api == "gemini":
            key = handler.headers.get("x-goog-api-key") or parse_qs(url.query).get("key", [None])[0]
        else:
            bearer = handler.headers.get("Authorization", "")
            key = bearer[7:].strip() if bearer[:7].lower() == "bearer " else None
        key_id = self._keys.index(key) if self._keys is not None and key in self._keys else None

        try:
            body = json.loads(raw or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        body = body if isinstance(body, dict) else {}
        prompt, schema = (_gemini_request if api == "gemini" else _openai_request)(body)
        model = unquote(gemini["model"]) if gemini else str(body.get("model", ""))

        problem = ""
        spec = item_spec(schema) if schema is not None else None
        if not body:
            problem = "the request body is not a non-empty JSON object"
        elif schema is not None and spec is None:
            problem = "the response schema asks for neither {text, label} nor {tokens, tags} items with an enum"
        elif schema is None:
            labels = labels_in_prompt(prompt)
            spec = ItemSpec("classification", labels) if labels else None
            problem = "" if spec else "no response schema, and no labels found in the prompt"

        with self._lock:  # outcome and content in arrival order: deterministic for sequential clients
            if self._keys is not None and key_id is None:
                outcome = "unauthorized"
            elif problem:
                outcome = "bad_request"
            else:
                outcome = self._draw()
            text, finish = self._text(outcome, spec) if spec and outcome in ANSWERED else ("", "")
            if outcome in ("unauthorized", "bad_request"):
                key_id = None
            self.stats[outcome] += 1
            schema_copy = schema if isinstance(schema, dict) else None
            self.requests.append(RecordedRequest(api, model, prompt, schema_copy, key_id, outcome, body))
            serial = len(self.requests)

        if outcome == "unauthorized":
            handler.reply(*self._unauthorized(api, key is None))
        elif outcome == "bad_request":
            handler.reply(400, self._error(api, 400, problem))
        elif outcome == "429":
            handler.reply(429, self._error(api, 429), {"Retry-After": self.faults.retry_after})
        elif outcome == "500":
            handler.reply(500, self._error(api, 500))
        else:
            if outcome == "hang":
                self._closing.wait(self.faults.hang_seconds)  # close() cuts the hang short
            handler.reply(200, self._completion(api, model, prompt, text, finish, serial))

    def _draw(self) -> str:
        x = self._outcomes.random()
        for kind, rate in self.faults.rates().items():
            if x < rate:
                return kind
            x -= rate
        return "ok"

    def _record_error(self, exc: BaseException | None) -> None:
        if exc is None or isinstance(exc, ConnectionError | TimeoutError):
            return  # a client hanging up (after its own timeout) is normal here
        with self._lock:
            self.stats["handler_error"] += 1
            self.errors.append(f"{type(exc).__name__}: {exc}")

    # ------------------------------------------------------------ content
    def _text(self, outcome: str, spec: ItemSpec) -> tuple[str, str]:
        """(the model's text, finish) for a 200 outcome; call under the lock."""
        n = self.items_per_response
        fresh = [self._item(spec) for _ in range(n)]
        items: list[Any] = list(fresh)
        rng = self._content
        if outcome == "wrong_labels":
            positions = rng.sample(range(n), max(1, round(n * 0.4)))
            for i, position in enumerate(positions):
                items[position] = self._corrupt(fresh[position], spec, first=i == 0)
            fresh = [item for i, item in enumerate(fresh) if i not in positions]
        elif outcome == "duplicates":
            # The first repeat copies an item of this response, the second one sent earlier (when there is one).
            repeats = sorted(rng.sample(range(1, n), min(n - 1, max(2, round(n * 0.3))))) if n > 1 else []
            for i, position in enumerate(repeats):
                earlier = self._delivered and (i == 1 or (i > 1 and rng.random() < 0.5))
                items[position] = dict(rng.choice(self._delivered) if earlier else items[rng.randrange(position)])
            if n == 1 and self._delivered:
                items[0] = dict(rng.choice(self._delivered))
            fresh = [item for i, item in enumerate(fresh) if i not in repeats and not (n == 1 and self._delivered)]
        text = json.dumps({"items": items}, ensure_ascii=False)
        if outcome == "truncated":
            return text[: rng.randrange(max(1, len(text) // 3), len(text) - 1)], "truncated"
        self._delivered += fresh
        return text, "stop"

    def _item(self, spec: ItemSpec) -> dict[str, Any]:
        if spec.kind == "classification":
            return {"text": self._writer.sentence(), "label": self._content.choice(spec.labels)}
        tokens, tags = self._writer.tagged(spec.labels)
        return {"tokens": tokens, "tags": tags}

    def _corrupt(self, item: dict[str, Any], spec: ItemSpec, first: bool) -> dict[str, Any]:
        """A broken copy of ``item``; the first one of a response always gets a label (tag) outside the enum."""
        rng, bad = self._content, dict(item)
        known = {label.casefold().replace(" ", "") for label in spec.labels}
        if spec.kind == "classification":
            how = "unknown" if first else rng.choice(["unknown", "no label", "no text", "empty", "int", "list"])
            unknown = next((x for x in ("Other", "Unknown", "Misc", "N/A") if x.casefold() not in known), "??")
            if how == "unknown":
                bad["label"] = unknown
            elif how in ("no label", "no text"):
                del bad[how[3:]]
            elif how == "empty":
                bad["text"] = ""
            elif how == "int":
                bad["label"] = rng.randrange(len(spec.labels) + 1)
            else:
                bad["text"] = item["text"].split()
            return bad
        how = "unknown" if first else rng.choice(["unknown", "no tags", "no tokens", "empty", "str", "unequal"])
        tags = list(item["tags"])
        if how == "unknown":
            entity = [i for i, tag in enumerate(tags) if tag != "O"] or list(range(len(tags)))
            tags[rng.choice(entity)] = next(t for t in ("B-MISC", "B-UNKNOWN", "X-NONE") if t.casefold() not in known)
            bad["tags"] = tags
        elif how in ("no tags", "no tokens"):
            del bad[how[3:]]
        elif how == "empty":
            bad["tokens"], bad["tags"] = [], []
        elif how == "str":
            bad["tags"] = " ".join(tags)
        else:
            bad["tags"] = tags[:-1]
        return bad

    # ------------------------------------------------------------ response shapes
    def _completion(self, api: str, model: str, prompt: str, text: str, finish: str, serial: int) -> dict[str, Any]:
        prompt_tokens, text_tokens = len(prompt) // 4 + 1, len(text) // 4 + 1
        if api == "gemini":
            return {
                "candidates": [
                    {
                        "content": {"role": "model", "parts": [{"text": text}]},
                        "finishReason": "MAX_TOKENS" if finish == "truncated" else "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": {
                    "promptTokenCount": prompt_tokens,
                    "candidatesTokenCount": text_tokens,
                    "totalTokenCount": prompt_tokens + text_tokens,
                },
                "modelVersion": model,
                "responseId": f"fake-{serial}",
            }
        return {
            "id": f"chatcmpl-fake{serial:06d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "length" if finish == "truncated" else "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": text_tokens,
                "total_tokens": prompt_tokens + text_tokens,
            },
        }

    def _error(self, api: str, status: int, message: str = "") -> dict[str, Any]:
        """An error body as each service shapes it (messages as the real ones read, more or less)."""
        grpc, kind, code, default = {
            400: ("INVALID_ARGUMENT", "invalid_request_error", None, "Invalid request."),
            404: ("NOT_FOUND", "invalid_request_error", "unknown_url", "Not found."),
            429: ("RESOURCE_EXHAUSTED", "requests", "rate_limit_exceeded", "Resource has been exhausted."),
            500: ("INTERNAL", "server_error", None, "An internal error has occurred. Please retry."),
        }[status]
        if api == "openai":
            return {"error": {"message": message or default, "type": kind, "param": None, "code": code}}
        error: dict[str, Any] = {"code": status, "message": message or default, "status": grpc}
        if status == 429 and re.fullmatch(r"\d+(\.\d+)?", self.faults.retry_after):
            # Gemini also says when to retry in the body (google.rpc.RetryInfo).
            retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{self.faults.retry_after}s"}
            error["details"] = [retry]
        return {"error": error}

    def _unauthorized(self, api: str, missing: bool) -> tuple[int, dict[str, Any]]:
        """What the real services answer for a missing or unknown key (the key itself is never echoed)."""
        if api == "openai":
            message = "You didn't provide an API key." if missing else "Incorrect API key provided."
            return 401, {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}}
        if missing:
            message = "Method doesn't allow unregistered callers (callers without established identity)."
            return 403, {"error": {"code": 403, "message": message, "status": "PERMISSION_DENIED"}}
        info = {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "API_KEY_INVALID",
            "domain": "googleapis.com",
        }
        message = "API key not valid. Please pass a valid API key."
        return 400, {"error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT", "details": [info]}}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a fake Gemini/OpenAI LLM with injected faults.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--fault-rate", type=float, default=0.0, help="total fault rate, spread over all kinds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--items", type=int, default=10, help="items per response")
    parser.add_argument("--language", choices=["en", "zh"], default="en")
    parser.add_argument("--key", action="append", help="a valid API key (repeatable); default: keys not checked")
    parser.add_argument("--retry-after", default="1")
    parser.add_argument("--hang-seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    faults = Faults.spread(args.fault_rate, retry_after=args.retry_after, hang_seconds=args.hang_seconds)
    with FakeLLM(faults, args.seed, args.items, args.key, args.language, port=args.port) as fake:
        print(f"Gemini: {fake.url}  (POST /v1beta/models/MODEL:generateContent)")
        print(f"OpenAI: {fake.openai_base_url}  (POST /chat/completions)")
        print("Ctrl-C to stop.", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            print(f"\nserved: {dict(fake.stats)}")


def default_sigint() -> None:
    """For a child process before exec: SIGINT as a terminal delivers it. An ignored SIGINT is
    inherited, so a suite started as a background job would otherwise give children no Ctrl-C."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


if __name__ == "__main__":
    main()
