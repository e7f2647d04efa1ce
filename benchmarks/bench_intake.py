"""Intake benchmark against a real `qinglang serve` process on 127.0.0.1 (SQLite WAL, demo data, rate limit off).

Measures, in one run:
  1. instant answer: under light load, the time until a report whose text states a published debunk's claim
     shows that debunk on GET /v1/reports/{receipt} (target <= 2 s);
  2. intake: acknowledged (201) submissions/s and p50/p99 latency for tweet-length text + URL, offered open loop
     at --rate reports/s (latency counted from when each request was due, so stalls are not hidden), or closed
     loop with --rate 0 (target >= 1,000/s, p99 < 100 ms);
  3. backlog: the background pipeline's throughput during and after the load, against the embedding model's own
     throughput on the same texts measured in this run, before the load and after the drain (target >= 0.8x the
     mean of the two), that the job table drains, and the CPU time per report the worker, its analysis helpers
     and the API processes spent on the drain; also, as a diagnostic, the drain rate after its first second (the
     pipeline noticing the end of the flood and handing analysis to its helpers);
  4. SIGKILL: kill -9 the server mid-load, restart it, then count 201s, surviving rows and processed reports.
It also prints the share of CPU time the hypervisor gave to other guests (steal) during the load and the drain:
on a shared VM the same code measures very differently from one half hour to the next.

The load generator speaks HTTP/1.1 keep-alive over raw asyncio streams: on a 2-core machine the client must cost
far less CPU than the server it measures. Texts are generated here; no dataset rows are used. Never point this at
anything but a throwaway server it started itself.

    .venv/bin/python benchmarks/bench_intake.py --duration 20 --rate 1000 --server-workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing as mp
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CATEGORIES = ("fraud", "rumor", "porn", "gambling", "cybercrime", "hate", "privacy", "other")
IDLE_REUSE_SECONDS = 2.0
# Jobs on their own schedule, not backlog: the SLA sweep re-schedules itself every minute, and a claim index save
# after a recent one waits until SAVE_EVERY has passed (`match.store_source`).
IGNORED_JOB_KINDS = ("sla_sweep", "save_claim_index")


# ---- synthetic tweet-length reports -------------------------------------------------------------------------

_ZH_PLACES = ("朝阳区", "浦东新区", "天河区", "南山区", "武侯区", "西湖区", "江北区", "雁塔区", "鼓楼区", "洪山区")
_ZH_HOOKS = ("紧急扩散", "刚刚收到", "家人们注意", "内部消息", "速看", "不转不是中国人", "官方还没公布")
_ZH_BODIES = ("{p}今晚{n}点起全面停水停电，赶紧囤货", "加微信{n}领取{p}政府补贴{m}元，名额有限",
              "{p}某超市的鸡蛋是人造的，已经有{n}人中毒", "刷单返利日结{m}元，扫码进群，{p}宝妈都在做",
              "{p}某小区发现不明病毒，{n}人被隔离", "低价出售{p}居民个人信息{n}万条，联系QQ{m}",
              "线上百家乐稳赚不赔，{p}老哥已经赢了{m}万", "冒充{p}公安局：你的账户涉嫌洗钱，请转账到安全账户{n}")
_EN_HOOKS = ("BREAKING", "Share before they delete this", "My cousin works there", "URGENT", "Read this now")
_EN_BODIES = ("the tap water in district {n} is poisoned, do not drink it for {m} days",
              "send {m} dollars to claim your unpaid parcel fee or it will be destroyed tomorrow",
              "the new vaccine batch {n} contains microchips, hospitals are hiding it",
              "earn {m} a day liking videos, join the group and pay the {n} deposit",
              "bank account {n} is frozen, verify your card at the link within {m} minutes")
_DOMAINS = ("weibo.com", "douyin.com", "x.com", "zhihu.com", "bilibili.com", "facebook.com", "xiaohongshu.com")


def make_report(rng: random.Random) -> dict[str, Any]:
    """One tweet-length report (about 60-140 characters of text) with a unique post URL."""
    n, m = rng.randint(1, 99999), rng.randint(10, 99999)
    if rng.random() < 0.6:
        place = rng.choice(_ZH_PLACES)
        text = f"{rng.choice(_ZH_HOOKS)}！{rng.choice(_ZH_BODIES).format(p=place, n=n, m=m)}。转发提醒身边的人 #{n}"
    else:
        text = f"{rng.choice(_EN_HOOKS)}: {rng.choice(_EN_BODIES).format(n=n, m=m)}. Tell everyone you know #{m}"
    url = f"https://{rng.choice(_DOMAINS)}/u{rng.randint(1, 10**6)}/status/{rng.getrandbits(48)}"
    return {"category": rng.choice(CATEGORIES), "text": text[:280], "url": url}


# ---- a light HTTP/1.1 keep-alive client ---------------------------------------------------------------------

class Conn:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.last_used = 0.0

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        if self.writer is not None and time.perf_counter() - self.last_used > IDLE_REUSE_SECONDS:
            await self.close()  # the server closes idle keep-alive connections (uvicorn: after 5 s)
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + (body or b""))
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)}
        if "content-length" in headers:
            data = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            data = b""
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                data += await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        else:
            data = b""
        self.last_used = time.perf_counter()
        if headers.get("connection") == "close":
            await self.close()
        return status, data

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except (ConnectionError, OSError):
                pass
        self.reader = self.writer = None


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)  # seconds, 201s only
    done_at: list[float] = field(default_factory=list)  # seconds since the load started, per latency
    receipts: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    started: float = 0.0
    ended: float = 0.0

    def merge(self, other: LoadResult) -> None:
        self.latencies += other.latencies
        self.done_at += other.done_at
        self.receipts += other.receipts
        self.texts += other.texts
        for k, v in other.errors.items():
            self.errors[k] = self.errors.get(k, 0) + v
        self.started = min(self.started or other.started, other.started)
        self.ended = max(self.ended, other.ended)


def connection_rng(seed: int, i: int) -> random.Random:
    """The generator of connection ``i``'s reports in a load process seeded ``seed``."""
    return random.Random(seed * 100_003 + i)


def process_seeds(seed: int, procs: int) -> list[int]:
    """The seed of each client process of `run_load`."""
    return [seed] if procs == 1 else [seed * 31 + k for k in range(procs)]


async def _load(port: int, concurrency: int, duration: float, seed: int, rate: float = 0.0) -> LoadResult:
    """Closed loop (``rate`` 0: each connection sends its next report when the last is answered), or open loop
    at ``rate`` reports/s spread over the connections. Open-loop latency counts from the moment a request was
    due, so a stalled server is charged for the requests it kept waiting (no coordinated omission)."""
    res = LoadResult(started=time.time())
    begin = time.perf_counter()
    deadline = begin + duration

    async def one(i: int) -> None:
        rng = connection_rng(seed, i)
        conn = Conn("127.0.0.1", port)
        k = 0
        while time.perf_counter() < deadline:
            rep = make_report(rng)
            body = json.dumps(rep, ensure_ascii=False).encode()
            t = time.perf_counter()
            if rate > 0:
                due = begin + (k * concurrency + i) / rate
                k += 1
                if due >= deadline:
                    break
                if due > t:
                    await asyncio.sleep(due - t)
                t = due
            try:
                status, data = await conn.request("POST", "/v1/reports", body)
            except (ConnectionError, OSError, asyncio.IncompleteReadError) as exc:
                key = type(exc).__name__
                res.errors[key] = res.errors.get(key, 0) + 1
                await conn.close()
                await asyncio.sleep(0.05)  # the server is gone (SIGKILL phase) or overloaded; do not spin
                continue
            if status == 201:
                now = time.perf_counter()
                res.latencies.append(now - t)
                res.done_at.append(now - begin)
                res.receipts.append(json.loads(data)["receipt"])
                res.texts.append(rep["text"])
            else:
                res.errors[f"HTTP {status}"] = res.errors.get(f"HTTP {status}", 0) + 1
        await conn.close()

    await asyncio.gather(*(one(i) for i in range(concurrency)))
    res.ended = time.time()
    return res


def _load_process(port: int, concurrency: int, duration: float, seed: int, rate: float = 0.0) -> LoadResult:
    return asyncio.run(_load(port, concurrency, duration, seed, rate))


def run_load(port: int, *, concurrency: int, duration: float, procs: int, seed: int, rate: float = 0.0) -> LoadResult:
    """`procs` client processes with `concurrency` connections each for `duration` seconds; closed loop, or open
    loop at `rate` reports/s in total."""
    if procs == 1:
        return _load_process(port, concurrency, duration, seed, rate)
    ctx = mp.get_context("spawn")
    with ctx.Pool(procs) as pool:
        parts = pool.starmap(_load_process, [(port, concurrency, duration, s, rate / procs)
                                             for s in process_seeds(seed, procs)])
    total = LoadResult()
    for p in parts:
        total.merge(p)
    return total


# ---- the server under test -----------------------------------------------------------------------------------

@dataclass
class Server:
    data_dir: Path
    port: int
    env: dict[str, str]
    workers: int = 1
    proc: subprocess.Popen[bytes] | None = None

    @property
    def db_path(self) -> Path:
        return self.data_dir / "qinglang.db"

    def cli(self, *args: str) -> None:
        subprocess.run([sys.executable, "-m", "qinglang.cli", *args], env=self.env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=600)

    def start(self) -> None:
        log = open(self.data_dir / "server.log", "ab")  # noqa: SIM115 (kept open for the child's lifetime)
        self.proc = subprocess.Popen([sys.executable, "-m", "qinglang.cli", "serve", "--host", "127.0.0.1",
                                      "--port", str(self.port), "--workers", str(self.workers)],
                                     env=self.env, stdout=log, stderr=log)
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.data_dir}/server.log")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if b" 200 " in s.recv(200):
                        return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("server did not become ready in 120 s")

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        con = sqlite3.connect(self.db_path, timeout=30)
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()

    def log_size(self) -> int:
        try:
            return (self.data_dir / "server.log").stat().st_size
        except OSError:
            return 0

    def read_ahead(self, since: int) -> dict[str, int]:
        """Reports the worker analysed ahead on idle CPU, as it logged them after byte ``since`` of its log: during
        floods (`read_ahead_flood_over`; a pause in the load can end one early and start another) and from the top
        of a draining backlog (`read_ahead_drain_over`)."""
        found = {"flood": 0, "drain": 0}
        with contextlib.suppress(OSError), (self.data_dir / "server.log").open("rb") as f:
            f.seek(since)
            for line in f.read().decode("utf-8", "replace").splitlines():
                kind = re.search(r"read_ahead_(flood|drain)_over", line)
                m = re.search(r'"analysed": (\d+)', line) if kind else None
                if kind and m:
                    found[kind.group(1)] += int(m.group(1))
        return found

    def processed(self) -> int:
        return int(self.query("SELECT count(*) FROM reports WHERE processed = 1")[0][0])

    def pending_jobs(self) -> dict[str, int]:
        marks = ",".join("?" * len(IGNORED_JOB_KINDS))
        rows = self.query(f"SELECT kind || ':' || status, count(*) FROM jobs WHERE status IN ('queued','running') "
                          f"AND kind NOT IN ({marks}) GROUP BY kind, status", IGNORED_JOB_KINDS)
        return {k: int(n) for k, n in rows}

    def wait_drained(self, timeout: float, progress: list[tuple[float, int]] | None = None) -> tuple[bool, float]:
        """Wait until no job is pending: (drained, seconds). ``progress`` gets (seconds, reports processed) at each
        look."""
        t = time.perf_counter()
        while time.perf_counter() - t < timeout:
            if progress is not None:
                progress.append((time.perf_counter() - t, self.processed()))
            if not self.pending_jobs():
                return True, time.perf_counter() - t
            time.sleep(0.25)
        return False, time.perf_counter() - t


def proc_stat(pid: int) -> tuple[int, float]:
    """A live process's parent pid and its user + system CPU seconds so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_times() -> list[int]:
    """The machine's CPU time counters (jiffies): user, nice, system, idle, iowait, irq, softirq, steal (Linux)."""
    return [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def steal_share(before: list[int], after: list[int]) -> float:
    """The share of the CPU time between two `machine_times` readings that the hypervisor gave to other guests
    (steal): on a shared VM it explains runs whose latencies and rates move without any change of code."""
    spent = [b - a for a, b in zip(before, after, strict=True)]
    return spent[7] / max(sum(spent), 1)


def busy_cores(before: list[int], after: list[int], seconds: float) -> float:
    """The whole machine's cores busy on average between two `machine_times` readings ``seconds`` apart (all but
    idle and iowait)."""
    spent = [b - a for a, b in zip(before, after, strict=True)]
    return (sum(spent) - spent[3] - spent[4]) / os.sysconf("SC_CLK_TCK") / seconds


def process_tree_cpu(root: int) -> dict[str, float]:
    """CPU seconds (user + system) so far of ``root``'s process tree, by role: the worker process, its analysis
    helpers (its children), and the rest (the server process and its API processes). Linux /proc."""
    parent: dict[int, int] = {}
    cpu: dict[int, float] = {}
    cmd: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            parent[int(entry)], cpu[int(entry)] = proc_stat(int(entry))
            cmd[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            parent.pop(int(entry), None)
            cpu.pop(int(entry), None)
            continue

    def under(pid: int, top: int) -> bool:
        while pid > 1:
            if pid == top:
                return True
            pid = parent.get(pid, 1)
        return False

    worker = next((p for p in cpu if under(p, root) and "qinglang.cli worker" in cmd[p]), None)
    out = {"worker": 0.0, "helpers": 0.0, "server": 0.0}
    for p, seconds in cpu.items():
        if worker is not None and p == worker:
            out["worker"] += seconds
        elif worker is not None and under(p, worker):
            out["helpers"] += seconds
        elif under(p, root):
            out["server"] += seconds
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- phases --------------------------------------------------------------------------------------------------

def debunk_claims(server: Server, limit: int) -> list[tuple[int, str]]:
    rows = server.query("SELECT d.id, v.claim, v.variants FROM debunks d JOIN debunk_versions v ON v.debunk_id = d.id "
                        "AND v.version = d.current_version WHERE d.status IN ('published','corrected') ORDER BY d.id")
    out = []
    for did, claim, variants in rows:
        vs = json.loads(variants or "[]")
        out.append((int(did), vs[0] if vs else claim))  # a variant wording, not the stored claim, when there is one
    return out[:limit]


def _debunk_id(shown: dict[str, Any] | None) -> int | None:
    if not shown:
        return None
    # the 201 carries a match hit ({"debunk_id", "debunk", "score"…}); GET carries the public debunk ({"id"…})
    return int(shown.get("debunk_id") or shown.get("id") or -1)


async def _instant(port: int, claims: list[tuple[int, str]], background_rate: float, timeout: float
                   ) -> list[tuple[float, float, bool]]:
    """Per claim: (s until the reporter has an answer: the 201 or GET, s until GET shows it, right debunk)."""
    stop = asyncio.Event()

    async def trickle() -> None:
        conn, rng = Conn("127.0.0.1", port), random.Random(7)
        while not stop.is_set():
            await conn.request("POST", "/v1/reports", json.dumps(make_report(rng)).encode())
            await asyncio.sleep(1 / background_rate)
        await conn.close()

    bg = asyncio.create_task(trickle()) if background_rate > 0 else None
    conn, poll = Conn("127.0.0.1", port), Conn("127.0.0.1", port)
    out = []
    for did, text in claims:
        t = time.perf_counter()
        status, data = await conn.request("POST", "/v1/reports",
                                          json.dumps({"category": "rumor", "text": text}).encode())
        assert status == 201, data
        ack = json.loads(data)
        t_answer = time.perf_counter() - t if ack.get("debunk") else None
        shown = None
        while shown is None and time.perf_counter() - t < timeout:
            _, body = await poll.request("GET", f"/v1/reports/{ack['receipt']}")
            shown = json.loads(body).get("debunk")
            if shown is None:
                await asyncio.sleep(0.02)
        t_get = time.perf_counter() - t if shown is not None else float("inf")
        got = _debunk_id(ack.get("debunk")) or _debunk_id(shown)
        out.append((t_answer if t_answer is not None else t_get, t_get, got == did))
    stop.set()
    if bg:
        await bg
    await conn.close()
    await poll.close()
    return out


def embed_rate(texts: list[str], n: int) -> tuple[float, int]:
    """The embedding model's own throughput (texts/s) on the same texts, in this process."""
    from qinglang.match import get_embedder

    sample = texts[:n]
    emb = get_embedder()
    emb.embed(sample[:64])  # warm up
    t = time.perf_counter()
    for i in range(0, len(sample), 256):
        emb.embed(sample[i:i + 256])
    return len(sample) / (time.perf_counter() - t), len(sample)


def planned_texts(*, procs: int, concurrency: int, seed: int, n: int) -> list[str]:
    """The first texts every connection of `run_load` sends (each draws from its own seeded generator, as `_load`
    does), ``n`` in all: the same texts as the load's, known before it starts."""
    rngs = [connection_rng(s, i) for s in process_seeds(seed, procs) for i in range(concurrency)]
    per = -(-n // len(rngs))
    streams = [[make_report(rng)["text"] for _ in range(per)] for rng in rngs]
    return [t for row in zip(*streams, strict=True) for t in row][:n]


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=20, help="seconds of full load (phase 2)")
    ap.add_argument("--rate", type=float, default=1000,
                    help="offered reports/s in phase 2 (open loop); 0 = closed loop, as fast as answers come")
    ap.add_argument("--concurrency", type=int, default=128, help="connections per client process")
    ap.add_argument("--server-workers", type=int, default=2, help="`qinglang serve --workers N` (API processes)")
    ap.add_argument("--procs", type=int, default=1, help="client processes")
    ap.add_argument("--instant", type=int, default=20, help="debunk claims to submit in phase 1")
    ap.add_argument("--light-rate", type=float, default=5, help="background reports/s during phase 1")
    ap.add_argument("--embed-sample", type=int, default=4000, help="texts for the embedder's own throughput")
    ap.add_argument("--drain-timeout", type=float, default=300, help="seconds to wait for the backlog")
    ap.add_argument("--kill-duration", type=float, default=10, help="seconds of load in the SIGKILL phase")
    ap.add_argument("--kill-drain-timeout", type=float, default=60,
                    help="seconds to wait for the backlog after the restart (jobs a killed server left 'running' "
                         "are retaken after jobs.queue.STALE_AFTER, 5 minutes: use 330 to see them finish)")
    ap.add_argument("--skip-kill", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the temporary data directory")
    args = ap.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="qinglang-bench-"))
    port = free_port()
    env = dict(os.environ, QINGLANG_DATA_DIR=str(data_dir), QINGLANG_DATABASE_URL=f"sqlite:///{data_dir}/qinglang.db",
               QINGLANG_RATE_LIMIT="0", QINGLANG_LOG_LEVEL="info", QINGLANG_JOBS_INLINE="true",
               QINGLANG_SECRET_KEY="bench-" + "k" * 48, PYTHONUNBUFFERED="1")
    server = Server(data_dir, port, env, workers=args.server_workers)
    print(f"data dir {data_dir}, port {port}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}",
          flush=True)
    t = time.perf_counter()
    server.cli("db", "upgrade")
    server.cli("demo", "load")
    print(f"demo data loaded in {time.perf_counter() - t:.1f} s", flush=True)
    rows: list[tuple[str, str, str]] = []
    try:
        server.start()
        # 1. instant answer under light load
        claims = debunk_claims(server, args.instant)
        inst = asyncio.run(_instant(port, claims, args.light_rate, timeout=10))
        answer, shown = [x[0] for x in inst], [x[1] for x in inst]
        rows.append((f"instant answer: debunk on GET /v1/reports/{{receipt}}, p50 / max (n={len(inst)})",
                     f"{pct(shown, 0.5) * 1000:.0f} ms / {max(shown) * 1000:.0f} ms", "<= 2 s"))
        rows.append(("instant answer: first answer (201 or GET), p50 / max",
                     f"{pct(answer, 0.5) * 1000:.0f} ms / {max(answer) * 1000:.0f} ms", ""))
        rows.append(("instant answer: the expected debunk", f"{sum(x[2] for x in inst)}/{len(inst)}", ""))
        rows.append(("instant answer: each, in order (ms on GET)", " ".join(f"{x * 1000:.0f}" for x in shown), ""))
        server.wait_drained(60)
        # The model alone, on texts the load will send, before it and again after the drain: the shared machine's
        # speed drifts by 10-20 % within minutes, and the drain is compared with the mean of the two.
        rate_before, _ = embed_rate(planned_texts(procs=args.procs, concurrency=args.concurrency, seed=1,
                                                  n=args.embed_sample), args.embed_sample)

        # 2 + 3. full load, then the backlog
        before = server.processed()
        machine_before = machine_times()
        assert server.proc is not None
        cpu_load_start = process_tree_cpu(server.proc.pid)
        log_at_load = server.log_size()
        load = run_load(port, concurrency=args.concurrency, duration=args.duration, procs=args.procs, seed=1,
                        rate=args.rate)
        during = server.processed() - before
        wall = load.ended - load.started
        n_ok = len(load.latencies)
        t_end = time.perf_counter()
        cpu_before = process_tree_cpu(server.proc.pid)
        machine_load = machine_times()
        progress: list[tuple[float, int]] = []
        drained, drain_s = server.wait_drained(args.drain_timeout, progress)
        cpu_used = {k: v - cpu_before[k] for k, v in process_tree_cpu(server.proc.pid).items()}
        machine_drain = machine_times()
        after = server.processed() - before - during
        ok_processed = server.query(
            "SELECT count(*) FROM reports WHERE processed = 1 AND receipt IN (SELECT value FROM json_each(?))",
            (json.dumps(load.receipts),))[0][0]
        total_s = wall + (time.perf_counter() - t_end)
        offered = f"open loop, {args.rate:,.0f}/s offered" if args.rate else "closed loop"
        rows.append((f"intake: 201/s ({offered}, {args.procs}x{args.concurrency} connections, "
                     f"{args.server_workers} API processes, {args.duration:.0f} s)",
                     f"{n_ok / wall:,.0f}/s ({n_ok:,} acknowledged)", ">= 1,000/s"))
        rows.append(("intake: latency p50 / p99 / max", f"{pct(load.latencies, 0.5) * 1000:.1f} / "
                     f"{pct(load.latencies, 0.99) * 1000:.1f} / {max(load.latencies) * 1000:.0f} ms", "p99 < 100 ms"))
        rows.append(("intake: errors", json.dumps(load.errors) if load.errors else "none", ""))
        rows.append(("CPU time stolen by the hypervisor (other guests), during the load / the drain",
                     f"{steal_share(machine_before, machine_load):.1%} / "
                     f"{steal_share(machine_load, machine_drain):.1%}", ""))
        rows.append(("cores busy during the load (the whole machine: client, server, pipeline)",
                     f"{busy_cores(machine_before, machine_load, wall):.2f} of {os.cpu_count()}; of which server + "
                     "API / worker / helpers " + " / ".join(f"{(cpu_before[k] - cpu_load_start[k]) / wall:.2f}"
                                                              for k in ("server", "worker", "helpers")), ""))
        pipe_during = during / wall
        pipe_after = after / drain_s if drained and drain_s > 0.5 else float("nan")
        pipe_total = (during + after) / total_s
        rate_after, n_emb = embed_rate(load.texts, args.embed_sample)
        rate = (rate_before + rate_after) / 2
        rows.append(("pipeline: reports processed/s during load", f"{pipe_during:,.0f}/s", ""))
        ahead = server.read_ahead(log_at_load)
        rows.append(("pipeline: reports analysed ahead on idle CPU (QINGLANG_READ_AHEAD): during the load / the drain",
                     f"{ahead['flood']:,} / {ahead['drain']:,}", ""))
        rows.append(("pipeline: drain rate after load", f"{pipe_after:,.0f}/s ({after:,} in {drain_s:.1f} s)", ""))
        # Diagnostic: the drain without its first second, in which the pipeline notices that the flood is over and
        # hands the analysis from its throttled thread to the helpers (the target row counts that second).
        settled = next(((t, n) for t, n in progress if t >= 1.0), None)
        if drained and settled is not None and drain_s - settled[0] > 0.5:
            steady = (server.processed() - settled[1]) / (drain_s - settled[0])
            rows.append(("pipeline: drain rate after its first second (diagnostic)",
                         f"{steady:,.0f}/s (from {settled[0]:.1f} s)", ""))
        rows.append(("pipeline: load start to drained", f"{pipe_total:,.0f}/s ({during + after:,} in {total_s:.1f} s)",
                     ""))
        rows.append((f"embedding model alone (same texts, n={n_emb:,}): before the load / after the drain; mean",
                     f"{rate_before:,.0f}/s / {rate_after:,.0f}/s; {rate:,.0f}/s", ""))
        rows.append(("pipeline drain rate / model rate (the mean)", f"{pipe_after / rate:.2f}x", ">= 0.8x"))
        per = 1000 / max(after, 1)
        rows.append(("drain: CPU ms per report, worker / its helpers / server + API; cores busy",
                     f"{cpu_used['worker'] * per:.2f} / {cpu_used['helpers'] * per:.2f} / "
                     f"{cpu_used['server'] * per:.2f}"
                     f"; {sum(cpu_used.values()) / max(drain_s, 1e-9):.2f} of {os.cpu_count()}", ""))
        rows.append(("backlog drained (job table empty)", f"{'yes' if drained else 'NO'}; {ok_processed:,}/{n_ok:,} "
                     f"acknowledged reports processed; pending {server.pending_jobs() or 'none'}", "yes"))

        # 4. SIGKILL mid-load
        if not args.skip_kill:
            ctx = mp.get_context("spawn")
            with ctx.Pool(1) as pool:
                job = pool.apply_async(_load_process, (port, args.concurrency, args.kill_duration, 2, args.rate))
                time.sleep(args.kill_duration / 2)
                server.kill9()
                killed = job.get(args.kill_duration * 3 + 30)
            acked = killed.receipts
            server.start()
            drained2, waited = server.wait_drained(args.kill_drain_timeout)
            found = server.query("SELECT count(*), sum(processed) FROM reports WHERE receipt IN "
                                 "(SELECT value FROM json_each(?))", (json.dumps(acked),))[0]
            stuck = server.query("SELECT count(*) FROM jobs WHERE status = 'running'")[0][0]
            rows.append(("SIGKILL mid-load: 201s / rows surviving / processed after restart",
                         f"{len(acked):,} / {found[0]:,} / {int(found[1] or 0):,}",
                         "all equal"))
            rows.append(("SIGKILL: backlog drained after restart", f"{'yes' if drained2 else 'NO'} after "
                         f"{waited:.0f} s (jobs left 'running' by the killed server: {stuck})", "yes"))
    finally:
        server.stop()
    rows.append(("machine load average (1 min) at the end", f"{os.getloadavg()[0]:.2f}", ""))
    width = max(len(r[0]) for r in rows)
    print()
    print(f"| {'measure':<{width}} | result | target |")
    print(f"|{'-' * (width + 2)}|---|---|")
    for name, value, target in rows:
        print(f"| {name:<{width}} | {value} | {target} |")
    if not args.keep:
        import shutil

        shutil.rmtree(data_dir, ignore_errors=True)
    else:
        print(f"\nkept {data_dir}")


if __name__ == "__main__":
    main()
