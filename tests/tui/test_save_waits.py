"""A caption save in the TUI while another process writes the same dataset: it waits, says for whom, then saves."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

from loratui.tui.app import LoratuiApp

from tests.conftest import python_subprocess_env
from .conftest import settle

HOLDER = textwrap.dedent("""
    import asyncio, sys
    from loratui.datasets import writelock
    from loratui.datasets.service import get_dataset
    from loratui.store import Store

    async def main():
        async with Store.open(sys.argv[1]) as store:
            async with writelock.writer(store, await get_dataset(store, sys.argv[2]), "tags add"):
                print("held", flush=True)
                sys.stdin.readline()  # until the test says so

    asyncio.run(main())
""")


async def test_a_save_waits_for_another_writer_and_says_so(demo_ctx):
    app = LoratuiApp(demo_ctx, "demo")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        main = app.main_screen
        caption = (demo_ctx.paths.demo / main.loaded.rel_path).with_suffix(".txt")
        before = caption.read_text(encoding="utf-8")
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(demo_ctx.paths.db), main.dataset.name],
                                  env=python_subprocess_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert await asyncio.to_thread(holder.stdout.readline) == "held\n"
            await pilot.press("e", *", mine", "ctrl+s")
            for _ in range(100):
                await pilot.pause(0.05)
                messages = [n.message for n in app._notifications]
                if any("waiting for" in m for m in messages):
                    break
            assert any(f"waiting for tags add (pid {holder.pid}) to finish writing dataset" in m
                       for m in messages), messages
            assert caption.read_text(encoding="utf-8") == before  # not written while the other one holds it
            holder.stdin.write("\n")
            holder.stdin.flush()
            await asyncio.to_thread(holder.wait, 30)
        finally:
            if holder.poll() is None:
                holder.kill()
                holder.wait()
        for _ in range(100):
            await pilot.pause(0.05)
            if caption.read_text(encoding="utf-8") == before + ", mine":
                break
        assert caption.read_text(encoding="utf-8") == before + ", mine"
