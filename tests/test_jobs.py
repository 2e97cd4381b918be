"""Background jobs: the corpus compare and uploads run in processes of their own, survive the process
that started them, report progress, are restarted or failed when their process dies, and leave no
scratch files or stray processes behind. Client tests go through the app factory; most run jobs
inline, the ones marked "real process" start ``python -m indexer.jobs``."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from test_portal_support import INSPECTOR, add_user, csrf_of, login, portal_config

from indexer import copies, jobs
from indexer.errors import DocumentNotFound
from indexer.jobs import JobQueue
from indexer.library import Library
from portal import accounts, bootstrap, create_app, db

pytest_plugins = ["test_portal_support"]
NEW = "关于巡察整改落实情况的报告\n独一无二的标记甲乙丙丁，本单位认真落实整改责任。"
SHARED = ("我们坚持以习近平新时代中国特色社会主义思想为指导，深入学习贯彻党的二十大精神，认真查摆在理论学习、"
          "政治素质、能力本领、担当作为、工作作风、廉洁自律等方面存在的问题。")
TEXTS = {
    "a.txt": "县委书记对照检查材料\n" + SHARED + "一是理论学习不够系统深入，存在实用主义倾向。",
    "b.txt": "乡长对照检查材料\n" + SHARED + "三是群众观念有所淡化，解决实际问题办法不多。",
    "c.txt": "关于农田水利建设的调研报告\n今年全县新修水渠十二条，灌溉面积增加三千亩，农民收入稳步提高。",
}


def wait_for(queue: JobQueue, job_id: str, timeout: float = 120) -> jobs.Job:
    deadline = time.monotonic() + timeout
    job = queue.get(job_id)
    while job.active and time.monotonic() < deadline:
        time.sleep(0.1)
        job = queue.get(job_id)
    assert not job.active, f"job still {job.state} after {timeout} s: {job.message}"
    return job


def children(pid: int) -> list[int]:
    """Live (non-zombie) or zombie processes whose parent is ``pid``."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_bytes()
            except OSError:
                continue
            if int(stat.rsplit(b")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def tagged(tag: str) -> list[int]:
    """Processes (other than this one) whose environment carries ``DUIZHAO_TEST_TAG=tag``."""
    needle = f"DUIZHAO_TEST_TAG={tag}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if needle in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in TEXTS.items():
        (docs / name).write_text(text, encoding="utf-8")
    with Library(tmp_path / "index") as lib:
        assert not lib.add([docs]).failed
    return tmp_path / "index"


def make_app(tmp_path: Path, index: Path, *, inline: bool):
    app = create_app({**portal_config(index, tmp_path / "data"), "JOBS_INLINE": inline})
    bootstrap(app.config)
    add_user(app, *INSPECTOR)
    return app


def api_client(app):
    _, token = accounts.create_token(db.connect(app.config["APP_DB"]), INSPECTOR[0])
    c = app.test_client()
    c.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return c


def files(*pairs: tuple[str, bytes | str]) -> list[tuple[io.BytesIO, str]]:
    return [(io.BytesIO(d.encode("utf-8") if isinstance(d, str) else d), n) for n, d in pairs]


# -- the job queue ------------------------------------------------------------------------------


def test_compare_job_in_a_real_process(corpus):
    """The compare runs in a detached process (never our child), caches its result, and one compare
    per index: asking again while it runs returns the same job."""
    before = set(children(os.getpid()))  # other tests' helpers may live on
    with Library(corpus) as lib, JobQueue(corpus, inline=False) as queue:
        assert lib.compare(wait=False) is None
        job = queue.start_compare(lib)
        again = queue.start_compare(lib)
        assert again is None or again.id == job.id
        assert [j for j in queue.jobs(kind="compare", active=True) if j.id != job.id] == []
        done = wait_for(queue, job.id)
        assert done.state == "done" and done.result["documents"] == 3 and done.message == "已完成"
        assert done.attempts == 1 and done.pid is None
        assert lib.compare(wait=False) is not None  # cached for this library state
        assert queue.start_compare(lib) is None
        assert set(children(os.getpid())) <= before  # the job is nobody's child here
        assert not (queue.folder / f"{job.id}.log").exists()


def test_dead_job_is_restarted_then_failed_with_a_reason(corpus):
    with Library(corpus) as lib, JobQueue(corpus, inline=True) as queue:
        job = queue.create("compare", {"key": lib.cache_key()})
        queue.update(job.id, state="running", pid=dead_pid(), heartbeat=time.time(), attempts=1)
        assert queue.get(job.id).state == "done"  # noticed on read, started again, finished
        assert queue.get(job.id).attempts == 2
        stuck = queue.create("compare", {"key": "old"})
        queue.update(stuck.id, state="running", pid=os.getpid(), heartbeat=time.time() - 10 * jobs.STALE_SECONDS,
                     attempts=jobs.MAX_ATTEMPTS)
        failed = queue.get(stuck.id)
        assert failed.state == "failed" and "意外终止" in failed.error and "请重新提交" in failed.error
        alive = queue.create("compare", {"key": "x"})
        queue.update(alive.id, state="running", pid=os.getpid(), heartbeat=time.time())
        assert queue.get(alive.id).state == "running"  # alive and beating: left alone
        orphan = queue.create("compare", {"key": "y"})  # queued, but its process never started
        queue.update(orphan.id, heartbeat=time.time() - 2 * jobs.SPAWN_GRACE_SECONDS)
        assert queue.get(orphan.id).state == "done"


def test_compare_survives_the_process_that_started_it(corpus):
    """kill -9 of the starter (a stand-in for a gunicorn worker) does not stop the compare."""
    code = ("import sys, time\nfrom indexer.library import Library\nfrom indexer.jobs import JobQueue\n"
            "lib = Library(sys.argv[1]); job = JobQueue(sys.argv[1], inline=False).start_compare(lib)\n"
            "print(job.id, flush=True); time.sleep(600)\n")
    starter = subprocess.Popen([sys.executable, "-c", code, str(corpus)], stdout=subprocess.PIPE, text=True)
    try:
        job_id = starter.stdout.readline().strip()
        assert job_id
    finally:
        os.kill(starter.pid, signal.SIGKILL)
        starter.wait()
    with JobQueue(corpus, inline=False) as queue, Library(corpus) as lib:
        assert wait_for(queue, job_id).state == "done"
        assert lib.compare(wait=False) is not None


def test_compare_tolerates_materials_deleted_during_the_run(corpus, monkeypatch):
    """Regression: a material removed while the compare runs crashed it with DocumentNotFound."""
    real = copies._loader
    removed = []

    def loader(lib):
        load = real(lib)

        def deleting(docnum: int) -> str:
            if not removed:  # another process removes the material the compare is about to read
                doc = lib.live[docnum]
                with Library(lib.path) as other:
                    other.remove(doc.id)
                removed.append(doc.id)
            return load(docnum)
        return deleting

    monkeypatch.setattr(copies, "_loader", loader)
    with Library(corpus) as lib, JobQueue(corpus, inline=True) as queue:
        job = queue.start_compare(lib)
        assert job.state == "done", job.error
        assert removed, "the compare read no text: the test did not exercise a deletion"
        result = lib.compare(wait=False)
        assert result is not None and removed[0] not in {d["id"] for d in result["documents"]}
        assert len(result["documents"]) == 2


def test_compare_error_is_reported_not_retried_forever(corpus, monkeypatch):
    def broken(lib, **kw):
        raise DocumentNotFound("zzzz")  # not a deletion: the library did not change

    monkeypatch.setattr(copies, "compare_corpus", broken)
    with Library(corpus) as lib, JobQueue(corpus, inline=True) as queue:
        job = queue.start_compare(lib)
        assert job.state == "failed" and job.error.startswith("后台任务出错")


# -- the overview page and API ---------------------------------------------------------------


def test_overview_shows_progress_of_a_running_compare(tmp_path, corpus, monkeypatch):
    """While the compare job works: 202 with its progress (API) and a page that refreshes itself
    without inline script; once it is done, the overview."""
    from portal import duplicates as dup_module

    monkeypatch.setattr(dup_module, "WAIT_SECONDS", 0)
    app = make_app(tmp_path, corpus, inline=True)
    c = api_client(app)
    with Library(corpus) as lib, JobQueue(corpus) as queue:
        running = queue.create("compare", {"key": lib.cache_key()})
        queue.update(running.id, state="running", pid=os.getpid(), heartbeat=time.time(), done=3, total=10,
                     message="正在比对材料对")
    r = c.get("/api/duplicates")
    body = r.get_json()
    assert r.status_code == 202 and body["status"] == "computing" and r.headers["Retry-After"]
    assert body["job"]["id"] == running.id and (body["job"]["done"], body["job"]["total"]) == (3, 10)
    browser = app.test_client()
    login(browser, *INSPECTOR)
    page = browser.get("/duplicates")
    html = page.get_data(as_text=True)
    assert page.status_code == 202 and "正在比对" in html and "3/10" in html and "<progress" in html
    assert 'http-equiv="refresh"' in html and "<script>" not in html
    with JobQueue(corpus) as queue:  # the job's process died: the next look starts it again
        queue.update(running.id, pid=dead_pid())
    r = c.get("/api/duplicates")
    assert r.status_code == 200 and {"pairs", "clusters", "documents"} <= set(r.get_json())


def test_overview_computes_through_a_job_not_a_thread(tmp_path, corpus):
    """Regression: the overview computed in a thread inside the web worker."""
    before = set(children(os.getpid()))  # other tests' helpers may live on
    app = make_app(tmp_path, corpus, inline=False)
    c = api_client(app)
    deadline = time.monotonic() + 120
    r = c.get("/api/duplicates")
    while r.status_code == 202 and time.monotonic() < deadline:
        assert r.get_json()["job"]["url"].startswith("/api/jobs/")
        time.sleep(0.3)
        r = c.get("/api/duplicates")
    assert r.status_code == 200 and len(r.get_json()["documents"]) == 3
    import threading

    assert not [t for t in threading.enumerate() if t.name == "duizhao-compare"]
    assert set(children(os.getpid())) <= before  # the job is nobody's child here


# -- the report cache --------------------------------------------------------------------------


def test_document_page_reads_the_report_cache(tmp_path, corpus, monkeypatch):
    """Regression: the document page computed a full report on every view."""
    calls = []
    real = copies.report

    def counting(lib, doc_id):
        calls.append(doc_id)
        return real(lib, doc_id)

    monkeypatch.setattr(copies, "report", counting)
    app = make_app(tmp_path, corpus, inline=True)
    c = app.test_client()
    login(c, *INSPECTOR)
    doc = c.get("/api/documents?limit=1").get_json()["documents"][0]
    for _ in range(3):
        assert c.get(f"/documents/{doc['id']}").status_code == 200
    assert c.get(f"/api/documents/{doc['id']}/report").status_code == 200
    assert calls == [doc["id"]]  # computed once, then read from the cache by every view
    (corpus / "stock_phrases.txt").write_text("理论学习不够系统深入\n", encoding="utf-8")
    c.get(f"/documents/{doc['id']}")
    assert len(calls) == 2  # other detection options: computed again
    assert api_client(app).post("/api/documents", data={"files": files(("新.txt", NEW))}).status_code == 200
    c.get(f"/documents/{doc['id']}")
    c.get(f"/documents/{doc['id']}")
    assert len(calls) == 4  # the library changed: computed again once (and once for the new upload)
    from indexer.report_cache import ReportCache

    assert len(ReportCache(corpus)) == 2  # only reports of the current state are kept


# -- uploads -----------------------------------------------------------------------------------


def test_upload_in_a_real_job_process(tmp_path, corpus):
    """202 at once with the job's URL; the job adds the files; scratch removed; no child left."""
    before = set(children(os.getpid()))  # other tests' helpers may live on
    app = make_app(tmp_path, corpus, inline=False)
    c = api_client(app)
    r = c.post("/api/documents", data={"files": files(("新材料.txt", NEW), ("坏.exe", b"MZ"))})
    body = r.get_json()
    assert r.status_code == 202, body
    url = body["job"]["url"]
    assert r.headers["Location"] == url and url == f"/api/jobs/{body['job']['id']}"
    assert [x["status"] for x in body["results"]] == ["queued", "rejected"]
    deadline = time.monotonic() + 120
    view = c.get(url).get_json()
    while view["job"]["state"] in jobs.ACTIVE and time.monotonic() < deadline:
        time.sleep(0.2)
        view = c.get(url).get_json()
    assert view["job"]["state"] == "done" and view["counts"] == {"added": 1, "rejected": 1}
    added = view["results"][0]
    assert added["report"] == f"/documents/{added['id']}/report" and "figures" in added
    hits = c.get("/api/search", query_string={"q": "独一无二的标记甲乙丙丁", "mode": "phrase"}).get_json()
    assert [h["id"] for h in hits["hits"]] == [added["id"]]
    assert list((Path(app.config["DATA"]) / "uploads").iterdir()) == []
    assert set(children(os.getpid())) <= before  # the job is nobody's child here
    rows = db.connect(app.config["APP_DB"]).execute(
        "SELECT user, detail FROM audit WHERE action = 'upload' ORDER BY id").fetchall()
    assert len(rows) == 2 and '"queued"' in rows[0]["detail"] and '"added"' in rows[1]["detail"]
    assert rows[1]["user"] == INSPECTOR[0]
    other = app.test_client()
    add_user(app, "other", "other-pass-12")
    login(other, "other", "other-pass-12")
    assert other.get(url).status_code == 403  # another user's job


def test_many_files_leave_no_forkserver_behind(tmp_path, corpus, monkeypatch):
    """Regression: 16+ files ingested in the worker left a forkserver and resource tracker under it."""
    before = set(children(os.getpid()))  # other tests' helpers may live on
    tag = uuid.uuid4().hex
    monkeypatch.setenv("DUIZHAO_TEST_TAG", tag)
    app = make_app(tmp_path, corpus, inline=False)
    c = api_client(app)
    batch = [(f"批量{i:02d}.txt", f"批量上传第{i}份\n材料编号{i}号，内容为第{i}份独有的文字。" * 3) for i in range(18)]
    r = c.post("/api/documents", data={"files": files(*batch)})
    assert r.status_code == 202
    with JobQueue(corpus) as queue:
        job = wait_for(queue, r.get_json()["job"]["id"])
    assert job.state == "done" and job.result["counts"] == {"added": 18}
    assert set(children(os.getpid())) <= before  # the job is nobody's child here
    deadline = time.monotonic() + 15
    while tagged(tag) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert tagged(tag) == []  # job process, fork server and resource tracker all gone


def test_upload_inline_answers_with_results_and_the_job(tmp_path, corpus):
    app = make_app(tmp_path, corpus, inline=True)
    c = api_client(app)
    r = c.post("/api/documents", data={"files": files(("新材料.txt", NEW))})
    body = r.get_json()
    assert r.status_code == 200 and body["job"]["state"] == "done" and body["counts"] == {"added": 1}
    assert c.get(body["job"]["url"]).get_json()["results"][0]["id"] == body["results"][0]["id"]


def test_upload_page_follows_the_job(tmp_path, corpus):
    """The form answers at once with a page that follows the job (script file, or a refresh without
    script); the results table is not squeezed by the search results' grid rule."""
    app = make_app(tmp_path, corpus, inline=False)
    c = app.test_client()
    login(c, *INSPECTOR)
    r = c.post("/upload", data={"files": files(("页面.txt", NEW)), "csrf_token": csrf_of(c)})
    html = r.get_data(as_text=True)
    assert r.status_code == 202 and 'id="upload-results"' in html and "等待处理" in html
    assert "/static/upload.js" in html and "<noscript><meta http-equiv=\"refresh\"" in html
    assert 'data-job="/api/jobs/' in html and "<script>" not in html
    assert 'class="list upload-results"' in html
    page = html.split('data-page="', 1)[1].split('"', 1)[0]
    with JobQueue(corpus) as queue:
        wait_for(queue, queue.jobs(kind="upload")[0].id)
    done = c.get(page)
    html = done.get_data(as_text=True)
    assert done.status_code == 200 and "已加入" in html and "查重报告" in html and "refresh" not in html
    css = (Path(__file__).resolve().parent.parent / "portal" / "static" / "style.css").read_text(encoding="utf-8")
    assert ".upload-results" in css
    assert c.get("/static/upload.js").status_code == 200


def test_crash_after_acknowledgement_loses_nothing(tmp_path, corpus, monkeypatch):
    """The job's process could not start (or died) after the upload was acknowledged: the next request
    finds it and adds the stored files."""
    app = make_app(tmp_path, corpus, inline=True)
    c = api_client(app)

    def no_process(self, job_id):
        raise OSError("fork failed")

    monkeypatch.setattr(JobQueue, "launch", no_process)
    r = c.post("/api/documents", data={"files": files(("保存.txt", NEW))})
    assert r.status_code == 202 and r.get_json()["results"][0]["status"] == "queued"  # never "failed"
    job_id = r.get_json()["job"]["id"]
    scratch = Path(app.config["DATA"]) / "uploads" / f"job-{job_id}"
    assert (scratch / "保存.txt").read_text(encoding="utf-8") == NEW
    monkeypatch.undo()
    with JobQueue(corpus) as queue:  # later: nobody claimed it within the grace period
        queue.update(job_id, heartbeat=time.time() - 2 * jobs.SPAWN_GRACE_SECONDS)
    view = c.get(f"/api/jobs/{job_id}").get_json()
    assert view["job"]["state"] == "done" and view["results"][0]["status"] == "added"
    assert not scratch.exists()


def test_resumed_upload_skips_files_already_added(tmp_path, corpus):
    """A job restarted after its process died keeps the results it recorded and adds the rest once."""
    data = tmp_path / "data"
    folder = data / "uploads" / "job-resume"
    folder.mkdir(parents=True)
    (folder / "一.txt").write_text(NEW, encoding="utf-8")
    (folder / "二.txt").write_text("第二份材料\n内容完全不同的另一份材料。", encoding="utf-8")
    with Library(corpus) as lib:
        first = lib.add([folder / "一.txt"]).results[0]
    files_ = [{"file": "一.txt", "name": "一.txt", "status": "added", "id": first.id},
              {"file": "二.txt", "name": "二.txt", "status": "reading"}]
    with JobQueue(corpus, inline=True) as queue:
        job = queue.create("upload", {"folder": str(folder), "files": files_})
        queue.update(job.id, state="running", pid=dead_pid(), attempts=1, result={"results": files_})
        done = queue.get(job.id)
    assert done.state == "done"
    assert [r["status"] for r in done.result["results"]] == ["added", "added"]
    assert not folder.exists()
    with Library(corpus) as lib:
        assert len(lib) == len(TEXTS) + 2


def test_start_of_worker_cleans_scratch_of_dead_uploads(tmp_path, corpus):
    """Regression: plain-text copies stayed in data/uploads when a worker was killed mid-upload."""
    data = tmp_path / "data"
    uploads = data / "uploads"
    uploads.mkdir(parents=True)
    with JobQueue(corpus) as queue:
        receiving = queue.create("upload", state="receiving")
        queue.update(receiving.id, pid=dead_pid())  # the worker died while receiving
        (uploads / f"job-{receiving.id}").mkdir()
        (uploads / f"job-{receiving.id}" / "半截.txt").write_text("半截", encoding="utf-8")
        live = queue.create("upload", state="receiving")  # this process is alive: kept
        (uploads / f"job-{live.id}").mkdir()
    (uploads / "job-unknown").mkdir()
    old = uploads / "up-old"
    old.mkdir()
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    fresh = uploads / "tmp-being-written"
    fresh.write_bytes(b"x")
    app = make_app(tmp_path, corpus, inline=True)
    app.test_client().get("/login")  # the first request of a worker
    assert sorted(p.name for p in uploads.iterdir()) == sorted([f"job-{live.id}", "tmp-being-written"])
    with JobQueue(corpus) as queue:
        failed = queue.get(receiving.id)
    assert failed.state == "failed" and "重新上传" in failed.error


def test_job_api_unknown_job(tmp_path, corpus):
    c = api_client(make_app(tmp_path, corpus, inline=True))
    r = c.get("/api/jobs/nosuchjob")
    assert r.status_code == 404 and "后台任务" in r.get_json()["error"]


def test_error_after_the_commit_still_reports_the_file_stored(tmp_path, corpus, monkeypatch):
    """Regression (issue 9): an answer never says "failed" for something that was stored."""
    from indexer.writer import IndexWriter

    real = IndexWriter.add_jobs

    def commit_then_fail(self, *args, **kwargs):
        real(self, *args, **{**kwargs, "on_result": None})  # committed, but no result reported
        raise OSError("disk hiccup after the commit")

    monkeypatch.setattr(IndexWriter, "add_jobs", commit_then_fail)
    c = api_client(make_app(tmp_path, corpus, inline=True))
    body = c.post("/api/documents", data={"files": files(("已存.txt", NEW))}).get_json()
    res = body["results"][0]
    assert res["status"] == "added" and res["id"], body
    monkeypatch.undo()
    assert c.get(f"/api/documents/{res['id']}").status_code == 200


def test_slow_job_is_never_run_twice_and_a_hung_one_is_killed_first(corpus):
    """Regression: a busy job process whose heartbeat lagged (a long computation on a loaded machine)
    was taken for dead and started again beside itself, three times over."""
    with Library(corpus) as lib, JobQueue(corpus, inline=True) as queue:
        job = queue.create("compare", {"key": lib.cache_key()})
        busy = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "indexer.jobs", job.id])
        try:
            queue.update(job.id, state="running", pid=busy.pid, attempts=1, heartbeat=time.time() - 100)
            assert queue.get(job.id).state == "running" and busy.poll() is None  # slow, not dead
            queue.update(job.id, heartbeat=time.time() - 2 * jobs.STALE_SECONDS)
            done = queue.get(job.id)  # hung: killed, then run again
            assert busy.wait(10) == -signal.SIGKILL
            assert done.state == "done" and done.attempts == 2
        finally:
            if busy.poll() is None:
                busy.kill()
                busy.wait()


def test_no_figures_for_a_huge_material(tmp_path, corpus, monkeypatch):
    """The copy figures of a very long material are left to its report page: computing them in the
    upload job kept a 17-million-character upload "running" for many minutes after it was added."""
    from indexer import uploads

    monkeypatch.setattr(uploads, "FIGURES_MAX_CHARS", 10)
    c = api_client(make_app(tmp_path, corpus, inline=True))
    body = c.post("/api/documents", data={"files": files(("长.txt", NEW))}).get_json()
    assert body["results"][0]["status"] == "added" and "figures" not in body["results"][0]
    monkeypatch.setattr(uploads, "FIGURES_MAX_CHARS", 10_000)
    body = c.post("/api/documents", data={"files": files(("短.txt", NEW + "又一份。"))}).get_json()
    assert "figures" in body["results"][0]
