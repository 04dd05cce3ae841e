"""The tagging / captioning dialog: choose WD14 tags or a vision LLM, options, then the job runs in the background.

Opened with `T` (ScreenAction `tagging.open`) on the app's current dataset; when the app exposes
``current_image_ids`` (the images a filter shows, or None), the dialog offers to work on those only. Progress
shows in the app's jobs strip (the job's writes reach it as changes); the dialog closes as soon as the job starts.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static, TabbedContent, TabPane

from loratui.config import TaggingSettings
from loratui.errors import InputError, LoratuiError
from loratui.jobs.runner import Cancelled
from loratui.store import Store
from loratui.tagging.caption_templates import BUILT_IN
from loratui.tagging.modes import CAPTION_MODES, TAG_MODES, Mode, parse_mode
from loratui.tagging.options import DEFAULT_THRESHOLD, TagOptions, parse_replacements, parse_tag_list
from loratui.tagging.registry import DEFAULT_MODEL, KNOWN_MODELS
from loratui.tui.extensions import ScreenAction
from loratui.tui.workers import report_error


def _float(value: str, name: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise InputError(f"{name} must be a number, got {value!r}") from None


def _int(value: str, name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InputError(f"{name} must be a whole number, got {value!r}") from None


class TaggingScreen(ModalScreen[int | None]):
    """Tag (WD14) or caption (vision LLM) the current dataset; dismisses with the job's start, or None."""

    CSS_PATH = "tagging.tcss"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="tagging.cancel"),
        Binding("ctrl+s", "start", "Start job", id="tagging.start"),
    ]

    def __init__(self, dataset, image_ids: list[int] | None = None, defaults: TaggingSettings | None = None) -> None:
        super().__init__()
        self.dataset = dataset
        self.image_ids = image_ids
        self.defaults = defaults or TaggingSettings()

    def compose(self) -> ComposeResult:
        modes = [(m.value, m.value) for m in TAG_MODES]
        defaults = self.defaults
        model_choice = defaults.model if defaults.model in KNOWN_MODELS else DEFAULT_MODEL
        model_other = "" if defaults.model in KNOWN_MODELS else defaults.model
        with Vertical(id="tagging-dialog"):
            yield Static(Text.assemble("Tag or caption ", (self.dataset.name, "bold")), id="tagging-title")
            if self.image_ids is not None:
                yield Checkbox(f"Only the {len(self.image_ids)} filtered images", value=True, id="only-filtered")
            with TabbedContent(id="tagging-tabs"):
                with TabPane("WD14 tags", id="tab-wd14"):
                    with VerticalScroll():
                        yield Label("Model (short name, Hub repo id or folder)")
                        yield Select([(name, name) for name in KNOWN_MODELS], value=model_choice,
                                     allow_blank=False, id="wd14-model-choice")
                        yield Input(model_other, placeholder="or a repo id / local folder (overrides the list)",
                                    id="wd14-model")
                        with Horizontal(classes="row"):
                            yield Label("General ≥")
                            yield Input(str(DEFAULT_THRESHOLD), id="general-threshold", classes="short")
                            yield Label("Character ≥")
                            yield Input(str(DEFAULT_THRESHOLD), id="character-threshold", classes="short")
                        yield Label("Captioned images")
                        yield Select(modes, value=Mode.SKIP_EXISTING.value, allow_blank=False, id="wd14-mode")
                        yield Input(placeholder="exclude: tag, tag, ...", id="exclude")
                        yield Input(placeholder="replace: src=dst; src=dst", id="replace")
                        yield Input(placeholder="always first: tag, tag", id="always-first")
                        yield Checkbox("Underscores to spaces", id="remove-underscore")
                        yield Checkbox("Character tags first", id="character-first")
                        yield Checkbox("Rating tag first", id="rating")
                        yield Checkbox("Fast JPEG decoding (scores differ slightly from sd-scripts')",
                                       id="fast-decode")
                with TabPane("Vision LLM caption", id="tab-vlm"):
                    with VerticalScroll():
                        yield Input(defaults.vlm_base_url, placeholder="base URL, e.g. http://127.0.0.1:11434/v1",
                                    id="vlm-url")
                        yield Input(defaults.vlm_model, placeholder="model name", id="vlm-model")
                        yield Select([("Prompt below (empty: default)", "")]
                                     + [(f"{t.name} ({t.media})", t.name) for t in BUILT_IN if t.name != "default"],
                                     value="", allow_blank=False, id="vlm-template")
                        yield Input(placeholder="prompt ({tags} {trigger} {filename} {frames}); empty: default",
                                    id="vlm-prompt")
                        yield Input(defaults.vlm_api_key_env, placeholder="API key variable (default OPENAI_API_KEY)",
                                    id="vlm-key-env")
                        with Horizontal(classes="row"):
                            yield Label("Concurrency")
                            yield Input("4", id="vlm-concurrency", classes="short")
                            yield Label("Max side")
                            yield Input("1024", id="vlm-max-side", classes="short")
                            yield Label("Clip frames")
                            yield Input("8", id="vlm-frames", classes="short")
                        yield Label("Captioned images")
                        yield Select([(m.value, m.value) for m in CAPTION_MODES], value=Mode.SKIP_EXISTING.value,
                                     allow_blank=False, id="vlm-mode")
            yield Static("", id="tagging-error")
            with Horizontal(id="tagging-buttons"):
                yield Button("Start", variant="primary", id="start")
                yield Button("Cancel", id="cancel")

    # -- reading the form ---------------------------------------------------------------------------------

    def _value(self, widget_id: str) -> str:
        return self.query_one(f"#{widget_id}", Input).value.strip()

    def _checked(self, widget_id: str) -> bool:
        return self.query_one(f"#{widget_id}", Checkbox).value

    def _selection(self) -> list[int] | None:
        if self.image_ids is not None and self._checked("only-filtered"):
            return list(self.image_ids)
        return None

    def tag_request(self):
        """A TagRequest from the WD14 tab (InputError for bad values)."""
        from loratui.tagging.wd14 import TagRequest  # here, not at the top: see run_job


        model = self._value("wd14-model") or str(self.query_one("#wd14-model-choice", Select).value)
        replacements = parse_replacements([p for p in self._value("replace").split(";") if p.strip()])
        options = TagOptions(
            general_threshold=_float(self._value("general-threshold"), "general threshold"),
            character_threshold=_float(self._value("character-threshold"), "character threshold"),
            rating="first" if self._checked("rating") else "none",
            exclude=parse_tag_list(self._value("exclude")),
            remove_underscore=self._checked("remove-underscore"),
            replacements=replacements,
            character_first=self._checked("character-first"),
            always_first=parse_tag_list(self._value("always-first")),
        )
        mode = parse_mode(str(self.query_one("#wd14-mode", Select).value), TAG_MODES)
        return TagRequest(model=model, options=options, mode=mode, device=self.defaults.device,
                          fast_decode=self._checked("fast-decode"), image_ids=self._selection())

    def caption_request(self):
        """A CaptionRequest from the vision-LLM tab (InputError for bad values)."""
        from loratui.tagging.captioning import CaptionRequest  # here, not at the top: see run_job
        from loratui.tagging.vlm import DEFAULT_KEY_ENV, DEFAULT_PROMPT, read_api_key

        url, model = self._value("vlm-url"), self._value("vlm-model")
        if not url or not model:
            raise InputError("captioning needs a base URL and a model name")
        key_env = self._value("vlm-key-env") or None
        prompt, max_tokens = self._value("vlm-prompt"), 400
        template = str(self.query_one("#vlm-template", Select).value)
        if template:
            if prompt:
                raise InputError("choose a template or write a prompt, not both")
            chosen = next(t for t in BUILT_IN if t.name == template)
            prompt, max_tokens = chosen.prompt, chosen.max_tokens or max_tokens
        return CaptionRequest(
            base_url=url, model=model, prompt=prompt or DEFAULT_PROMPT,
            api_key=read_api_key(key_env), api_key_env=key_env or DEFAULT_KEY_ENV,
            concurrency=_int(self._value("vlm-concurrency"), "concurrency"),
            max_side=_int(self._value("vlm-max-side"), "max side"),
            frames=_int(self._value("vlm-frames"), "clip frames"), max_tokens=max_tokens,
            mode=parse_mode(str(self.query_one("#vlm-mode", Select).value), CAPTION_MODES),
            image_ids=self._selection(),
        )

    # -- actions ------------------------------------------------------------------------------------------

    @on(Button.Pressed, "#start")
    def _start_pressed(self) -> None:
        self.action_start()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_start(self) -> None:
        """Validate the form, start the job as an app worker and close."""
        captioning = self.query_one(TabbedContent).active == "tab-vlm"
        try:
            request = self.caption_request() if captioning else self.tag_request()
        except LoratuiError as exc:
            self.query_one("#tagging-error", Static).update(Text(exc.one_line()))
            return
        kind = "caption" if captioning else "tag"
        app = self.app
        app.run_worker(run_job(app, self.dataset, kind, request), group="tagging", exit_on_error=False,
                       name=f"{kind} {self.dataset.name}")
        app.notify(f"{'Captioning' if captioning else 'Tagging'} {self.dataset.name} started; progress in the "
                   "jobs strip", markup=False)
        self.dismiss(1)


async def run_job(app: Any, dataset, kind: str, request) -> Any:
    """Run a tag/caption job in the app's event loop; tells the user how it ended."""
    # Imported here, not at the top: the taggers and the OpenAI client add ~0.15 s to every TUI start.
    from loratui.tagging.captioning import caption_dataset
    from loratui.tagging.wd14 import tag_dataset

    try:
        # A store of its own: the job's batched writes run on their own database thread and never hold up the
        # screens' queries; its changes reach the screens through the change log like another process's.
        async with Store.open(app.ctx.paths.db) as store:
            run = tag_dataset if kind == "tag" else caption_dataset
            report = await run(store, dataset, request)
    except Cancelled:
        app.notify(f"{kind} {dataset.name} cancelled; start it again to resume", markup=False)
        return None
    except Exception as exc:  # the job row says failed; the user must hear it too
        report_error(app, exc)
        return None
    severity = "warning" if getattr(report, "failed", None) or getattr(report, "conflicts", None) else "information"
    app.notify(report.summary(), title=f"{kind} {dataset.name} finished", severity=severity, timeout=10,
               markup=False)
    return report


def open_tagging(app: Any):
    """ScreenAction factory: the dialog for the current dataset (None after a notice when there is none)."""
    dataset = getattr(app, "current_dataset", None)
    if dataset is None:
        app.notify("Open a dataset first", severity="warning")
        return None
    ctx = getattr(app, "ctx", None)
    defaults = ctx.settings.tagging if ctx is not None and hasattr(ctx.settings, "tagging") else None
    return TaggingScreen(dataset, getattr(app, "current_image_ids", None), defaults)


ACTIONS = [ScreenAction(id="tagging.open", key="T", description="Tag / caption dataset", factory=open_tagging)]
