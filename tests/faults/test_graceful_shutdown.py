"""SIGTERM (a rolling update, `docker stop`) while a resident's answer is streaming: the server stops
taking new connections, the open stream runs to its end, then the process exits cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading

import httpx

from tests.conftest import clean_env
from tests.fake_llm import FakeLLM, source_number
from tests.faults.conftest import copy_of
from tests.servers import free_port, wait_until_serving


def test_sigterm_lets_the_open_stream_finish(corpus_index, tmp_path):
    with FakeLLM() as fake:
        fake.piece_delay_s = 0.05  # ~3 s of generation
        # ordinals in words: "第1项" would state a figure ("1") the source does not, and be dropped
        fake.reply = lambda m: "".join(f"第{n}项：低保标准为每人每月1450元。[{source_number(m, '1450元')}]"
                                       for n in "一二三四五")
        port = free_port()
        env = clean_env(JINGCE_DATA_DIR=str(copy_of(corpus_index, tmp_path)), LLM_BASE_URL=fake.base_url,
                        SERVER_GRACEFUL_S="30")
        server = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_serving(base, server)
            lines: list[str] = []
            first_delta = threading.Event()

            def read() -> None:
                with httpx.stream("POST", base + "/v1/chat", json={"question": "本市低保标准是多少", "stream": True},
                                  timeout=60) as response:
                    for line in response.iter_lines():
                        lines.append(line)
                        if line.startswith("event: delta"):
                            first_delta.set()

            reader = threading.Thread(target=read)
            reader.start()
            assert first_delta.wait(30), "the stream started"
            server.send_signal(signal.SIGTERM)
            reader.join(60)
            # uvicorn exits by re-raising the signal it handled, once open connections are done
            assert server.wait(60) in (0, -signal.SIGTERM)
        finally:
            if server.poll() is None:
                server.kill()
    assert "event: done" in lines, lines[-5:]
    done = lines[lines.index("event: done") + 1]
    assert '"status":"answered"' in done.replace(" ", "") and "第五项" in done
