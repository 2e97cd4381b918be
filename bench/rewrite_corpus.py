#!/usr/bin/env python3
"""Build a corpus of materials with *rewritten* copies, in make_corpus.py's truth format.

    .venv/bin/python bench/rewrite_corpus.py --out DIR [--docs 200] [--seed 7] [--table tune|heldout|fresh]
        [--pool ../shared/seeds] [--extra /usr/share/games/fortunes/chinese]
        [--level heavy=1.0,0.7,0.3,1,20 ...]

What a careful copier does to a web template, on real text: the documents' own text mixes
sentences babbled from the seed materials (make_corpus.py's Babbler) with real modern Chinese
paragraphs from ``--extra`` (Debian's ``fortunes-zh``: quotations, essays, jokes; optional), and
each copied passage is a sentence-aligned span of another document passed through the edits of its
obfuscation level:

    none    verbatim
    light   synonym spinning (30 % of the table's words found), renumbered list markers, full-width digits
    medium  spinning 60 %, clauses swapped in 30 % of the sentences, filler phrases (坦率地说，…),
            renumbering, full-width digits, and either a traditional-character mirror (OpenCC s2t)
            or OCR noise (one character in 50 replaced by a look-alike)
    heavy   spinning 90 %, clause swaps 50 %, fillers 50 %, renumbering, full-width digits,
            a traditional mirror *and* OCR noise (one character in 30)

Site footers (来源/责任编辑/转载 lines) and a few stock passages are planted in many documents as
templates. The synonym table is hand-made and is *not* the detector's lexicon (同义词词林);
``--table heldout`` uses a second, disjoint table for figures the detector was not tuned on (and
``fresh`` a third, for a check corpus nobody tunes on);
``--level NAME=SPIN,SWAP,FILLER,TRAD,OCR`` changes a level's edits (TRAD 1: traditional mirror, 0: none,
either: one of mirror and OCR; OCR: one character in this many replaced, 0: none), for a held-out
corpus whose edits differ from the ones tuned on too.

Writes DIR/docs/NNNNN.txt and DIR/truth.json ({"cases", "templates", "dont_care", "chars", ...};
see make_corpus.py's docstring), scored by score_compare.py / bench/compare_eval.py.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "bench"
sys.path.insert(0, str(SHARED))
from make_corpus import (  # noqa: E402  (the benchmark's generator, beside the corpora)
    SENTENCE_END,
    Babbler,
    Doc,
    natural_overlaps,
    pick_passage,
    read_texts,
    sentences,
)

TUNE_TABLE = """
帮助 关心|讨论 商量|推动 推进|群众 老百姓|加强 强化|提高 提升|问题 不足|认真 切实|深入 深度|学习 研学|
工作 事务|重要 关键|发展 进步|建设 打造|坚持 坚守|存在 具有|方面 领域|能力 本领|思想 观念|实际 现实|
要求 标准|落实 执行|努力 尽力|及时 按时|主动 自觉|全面 全方位|积极 踊跃|严格 从严|解决 化解|开展 进行|
领导 带领|干部 官员|责任 职责|明显 显著|不够 欠缺|自己 自身|今后 往后|目前 当前|认识 理解|作用 功能|
重视 看重|调查 调研|研究 钻研|经常 时常|特别 尤其|完善 健全|措施 举措|情况 状况|原因 缘由|成绩 成效|
改进 改良|部门 单位|任务 使命|我们 咱们|知道 了解|因为 由于|所以 因此|但是 可是|已经 业已|非常 十分
"""
HELDOUT_TABLE = """
帮助 扶持|讨论 研讨|推动 促进|群众 民众|加强 增强|提高 增进|问题 短板|认真 用心|深入 深刻|学习 研读|
工作 业务|重要 重大|发展 前进|建设 构建|坚持 保持|方面 层面|能力 水平|思想 理念|实际 实情|要求 规定|
落实 贯彻|努力 全力|及时 适时|主动 积极|全面 全部|严格 严厉|解决 处理|开展 组织|领导 引领|干部 同志|
责任 担当|明显 突出|不够 不足|自己 个人|今后 将来|目前 眼下|认识 领会|作用 效用|重视 关注|调查 摸排|
研究 探究|经常 常常|特别 格外|完善 优化|措施 办法|情况 情形|原因 根由|成绩 业绩|改进 改善|部门 机关|
任务 职能|我们 大家|知道 明白|因为 只因|所以 故而|但是 然而|已经 早已|非常 极其
"""
# A third table, for a check corpus nobody tunes on: other words, and a spinner's nonsense too.
FRESH_TABLE = """
贯彻 践行|理论 学理|意识 观念|担当 承担|作风 风气|纪律 规矩|廉洁 清廉|单位 机构|同志 同事|基层 一线|
调研 考察|制度 机制|监督 督查|检查 排查|整改 改正|差距 缺陷|标准 尺度|深刻 透彻|清醒 明晰|坚定 坚决|
服务 效劳|思路 想法|方法 方式|创新 革新|质量 品质|效率 效能|实践 实干|决策 决断|部署 安排|困难 难处|
矛盾 冲突|风险 隐患|教育 培育|引导 指引|关心 关怀|联系 联络|沟通 交流|表率 榜样|模范 楷模|带头 领头|
初心 本心|使命 职守|奋斗 拼搏|奉献 付出|态度 姿态|水平 档次|效果 功效|经验 阅历|目标 目的|计划 规划|
程序 流程|环节 步骤|松懈 懈怠|满足 满意|忽视 轻视|缺乏 缺少|薄弱 单薄|片面 偏颇|消极 负面|往往 常常|
全心全意 一心一意|形式主义 形式化|实事求是 求真务实|与时俱进 顺应时代
"""
FILLERS = ["坦率地说，", "客观地讲，", "实事求是地说，", "说实话，", "应当看到，", "总体而言，",
           "需要指出的是，", "从实际情况看，", "毋庸讳言，", "平心而论，", "具体来说，", "不难发现，"]
LOOKALIKE = ("己已 已己 未末 末未 人入 入人 土士 士土 日曰 曰日 天夭 大太 太大 王玉 玉王 干千 千干 刀力 力刀 "
             "目自 自目 治冶 候侯 拨拔 拔拨 折析 析折 民氏 往住 住往 历厉 准淮 休体 体休 问间 间问 "
             "责贵 贵责 员贝 部郭 工王 主王 的约 是足 在左 和知 作乍 要耍 会合 分兮 于干 子孑 了子").split()
FOOTERS = ["来源：{site}　　责任编辑：{editor}", "本文转载自{site}，版权归原作者所有，如有侵权请联系删除。",
           "【打印本页】【关闭窗口】　　{site}主办　　技术支持：{site}信息中心",
           "扫一扫在手机上查看当前页面　　{site}版权所有，未经许可不得转载。"]
SITES = ["清风廉政网", "党建文库网", "公文范文网", "红色先锋网", "机关党建网", "学习资料站"]
EDITORS = ["王敏", "李静", "张伟", "刘洋", "陈晨", "赵磊"]
CN_NUM = "一二三四五六七八九十"
FULL = str.maketrans("0123456789", "０１２３４５６７８９")
LEVELS = {  # spin share, clause swap share, filler share, traditional, OCR rate (0: none)
    "none": None,
    "light": (0.3, 0.0, 0.0, False, 0),
    "medium": (0.6, 0.3, 0.3, "either", 50),
    "heavy": (0.9, 0.5, 0.5, True, 30),
}


def table(text: str) -> list[tuple[str, str]]:
    pairs = [tuple(x.split()) for x in text.replace("\n", "").split("|") if x.strip()]
    return pairs + [(b, a) for a, b in pairs]


def spin(text: str, syn: list[tuple[str, str]], share: float, rng: random.Random) -> str:
    """Each occurrence of a table word replaced by its synonym with probability ``share`` (one pass)."""
    words = dict(syn)
    pattern = re.compile("|".join(sorted(map(re.escape, words), key=len, reverse=True)))
    return pattern.sub(lambda m: words[m.group()] if rng.random() < share else m.group(), text)


def swap_clauses(text: str, share: float, rng: random.Random) -> str:
    out = []
    for sent in (p for p in SENTENCE_END.split(text) if p):
        body, end = (sent[:-1], sent[-1]) if sent[-1] in "。！？；" else (sent, "")
        clauses = body.split("，")
        if len(clauses) >= 2 and rng.random() < share:
            i = rng.randrange(len(clauses) - 1)
            clauses[i], clauses[i + 1] = clauses[i + 1], clauses[i]
        out.append("，".join(clauses) + end)
    return "".join(out)


def add_fillers(text: str, share: float, rng: random.Random) -> str:
    parts = [p for p in SENTENCE_END.split(text) if p]
    return "".join((rng.choice(FILLERS) + p if rng.random() < share else p) for p in parts)


def renumber(text: str, rng: random.Random) -> str:
    """List markers rewritten: （一）→（2） or 2. , 一是→第一, digits shifted."""
    shift = rng.randint(1, 3)
    def marker(m: re.Match) -> str:
        return rng.choice(["（{}）", "{}. ", "{}、"]).format(CN_NUM.index(m.group(1)) + 1 + shift)

    text = re.sub(r"（([一二三四五六七八九十])）", marker, text)
    text = re.sub(r"([一二三四五六七八九])是", lambda m: "第" + m.group(1), text)
    return re.sub(r"\d+", lambda m: str(int(m.group()) + shift), text)


def ocr_noise(text: str, rate: int, rng: random.Random) -> str:
    """About one character in ``rate`` replaced by a look-alike (or a neighbour's character)."""
    table_ = dict(x for x in LOOKALIKE if len(x) == 2)
    chars = list(text)
    hanzi = [i for i, c in enumerate(chars) if "\u4e00" <= c <= "\u9fff"]
    for i in rng.sample(hanzi, min(len(hanzi), max(1, len(chars) // rate))):
        chars[i] = table_.get(chars[i]) or chars[rng.choice(hanzi)]
    return "".join(chars)


def obfuscate(text: str, level: str, syn: list[tuple[str, str]], rng: random.Random, s2t) -> str:
    params = LEVELS[level]
    if params is None:
        return text
    share, swaps, fillers, trad, ocr = params
    text = spin(text, syn, share, rng)
    if swaps:
        text = swap_clauses(text, swaps, rng)
    if fillers:
        text = add_fillers(text, fillers, rng)
    text = renumber(text, rng).translate(FULL)
    if trad == "either":
        trad, ocr = (True, 0) if rng.random() < 0.5 else (False, ocr)
    if trad:
        text = s2t.convert(text)
    if ocr:
        text = ocr_noise(text, ocr, rng)
    return text


def fortune_paragraphs(path: Path | None) -> list[str]:
    """Modern Chinese paragraphs of a fortune file (attribution lines and escape codes dropped)."""
    import opencc

    if path is None or not path.exists():
        return []
    t2s = opencc.OpenCC("t2s")
    raw = re.sub(r"\x1b\[[0-9;]*m", "", path.read_text(encoding="utf-8", errors="replace"))
    out = []
    for entry in raw.split("\n%\n"):
        for para in re.split(r"\n\s*\n", entry):
            lines = [x.strip() for x in para.splitlines() if x.strip() and not x.strip().startswith("--")]
            text = "".join(lines)
            hanzi = len(re.findall(r"[\u4e00-\u9fff]", text))
            latin = len(re.findall(r"[A-Za-z]", text))  # software documentation: not materials' prose
            clauses = [c for c in re.split(r"[，。！？；：、]", text) if c]
            poem = sum(map(len, clauses)) / max(1, len(clauses)) <= 7  # verse: variants of one poem abound
            prose = not poem and t2s.convert(text) == text  # traditional script: classical quotations
            if hanzi >= 30 and latin < hanzi / 20 and prose and re.search(r"[。！？]", text):
                out.append(text)
    return out


def build(out: Path, n_docs: int, seed: int, pool_dir: Path, extra: Path | None, syn_table: str) -> dict:
    import opencc

    rng = random.Random(seed)
    s2t = opencc.OpenCC("s2t")
    syn = table({"tune": TUNE_TABLE, "heldout": HELDOUT_TABLE, "fresh": FRESH_TABLE}[syn_table])
    pool = read_texts(pool_dir)
    pool_sents = [s for t in pool for s in sentences(t)]
    babbler = Babbler(pool, rng)
    real = fortune_paragraphs(extra)
    rng.shuffle(real)
    docs = []
    for i in range(n_docs):
        paras = [babbler.paragraph() for _ in range(rng.randint(3, 14))]
        for _ in range(rng.randint(2, 8) if real else 0):  # real text of its own
            paras.insert(rng.randrange(len(paras) + 1), real.pop() if real else babbler.paragraph())
        for _ in range(rng.randint(0, 3)):
            paras.insert(rng.randrange(len(paras) + 1), rng.choice(pool_sents))
        docs.append(Doc(f"{i:05d}", paras))

    templates = []  # site footers and stock passages, each in many documents
    for t in range(max(3, n_docs // 40)):
        if t % 2 == 0:
            passage = rng.choice(FOOTERS).format(site=rng.choice(SITES), editor=rng.choice(EDITORS))
        else:
            passage = "".join(rng.sample(pool_sents, rng.randint(2, 4)))
        for d in rng.sample(docs, min(len(docs), rng.randint(6, max(8, n_docs // 6)))):
            d.insert(passage, ("t", t), rng)
        templates.append(t)

    order = docs[:]
    rng.shuffle(order)
    origins, copiers = order[: len(order) * 2 // 5], order[len(order) * 2 // 5: len(order) * 4 // 5]
    cases = []
    for d in copiers:
        for _ in range(rng.randint(1, 4)):
            src = rng.choice(origins)
            span = pick_passage(src.text(), rng, 40, 600)
            if span is None:
                continue
            case_id = len(cases)
            try:
                src.cut_out(span, ("a", case_id))
            except ValueError:
                continue
            level = rng.choice(list(LEVELS))
            d.insert(obfuscate(src.text()[span[0]:span[1]], level, syn, rng, s2t), ("b", case_id), rng)
            cases.append({"id": case_id, "a": src.name, "b": d.name, "obfuscation": level})

    texts = {d.name: d.text() for d in docs}
    spans = {d.name: d.spans() for d in docs}
    for c in cases:
        c["a"] = {"doc": c["a"] + ".txt", "span": spans[c["a"]][("a", c["id"])][0]}
        c["b"] = {"doc": c["b"] + ".txt", "span": spans[c["b"]][("b", c["id"])][0]}
    tmpl_out = []
    for t in templates:
        where = [{"doc": n + ".txt", "span": s} for n in texts for s in spans[n].get(("t", t), [])]
        tmpl_out.append({"id": t, "docs": len({w["doc"] for w in where}), "spans": where})
    tagged = {n: [s for v in spans[n].values() for s in v] for n in texts}
    dont_care = {}
    if len(texts) <= 2000:
        dont_care = {n + ".txt": v for n, v in natural_overlaps(texts, tagged).items()}
    (out / "docs").mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        (out / "docs" / f"{name}.txt").write_text(text, encoding="utf-8")
    truth = {"seed": seed, "docs": len(texts), "chars": sum(map(len, texts.values())), "table": syn_table,
             "levels": {k: v for k, v in LEVELS.items() if v is not None},
             "cases": cases, "templates": tmpl_out, "dont_care": dont_care}
    (out / "truth.json").write_text(json.dumps(truth, ensure_ascii=False, indent=1), encoding="utf-8")
    return truth


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--docs", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--table", choices=("tune", "heldout", "fresh"), default="tune")
    ap.add_argument("--pool", type=Path, default=ROOT.parent / "shared" / "seeds")
    ap.add_argument("--extra", type=Path, default=Path("/usr/share/games/fortunes/chinese"),
                    help="real paragraphs for the documents' own text (fortunes-zh; skipped if missing)")
    ap.add_argument("--level", action="append", default=[], metavar="NAME=SPIN,SWAP,FILLER,TRAD,OCR",
                    help="a level's edits, e.g. heavy=1.0,0.7,0.3,1,20")
    args = ap.parse_args()
    for spec in args.level:
        name, values = spec.split("=", 1)
        spin_, swap, filler, trad, ocr = values.split(",")
        LEVELS[name] = (float(spin_), float(swap), float(filler),
                        "either" if trad == "either" else bool(int(trad)), int(ocr))
    truth = build(args.out, args.docs, args.seed, args.pool, args.extra, args.table)
    levels = {lv: sum(c["obfuscation"] == lv for c in truth["cases"]) for lv in LEVELS}
    print(f"{truth['docs']} documents, {truth['chars']} characters, {len(truth['cases'])} copied passages "
          f"{levels}, {len(truth['templates'])} templates, table {args.table} -> {args.out}")


if __name__ == "__main__":
    main()
