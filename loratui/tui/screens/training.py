"""The training form: every trainer option by section (or by search), validation beside each field, the live
step calculator with a bucket histogram, save / save as preset, and start (handed to the training runner).

Opened with `C` (ScreenAction ``training.open``) for the app's current dataset. The config is kept in
``<home>/training/<dataset>.toml``; a new one starts from a built-in preset.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from rich.console import Group
from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Checkbox, Input, Label, OptionList, Select, Static

from loratui.datasets import dataset_repo, service as dataset_service
from loratui.errors import LoratuiError
from loratui.fsutil import atomic_write_text
from loratui.training.config import FAMILIES, TrainConfig, load_config, save_config
from loratui.training.dataset_target import starting_config
from loratui.training.form import FormState, config_from_model_files, histogram_lines, value_text
from loratui.training.imports.importer import Imported
from loratui.training.imports.service import prompts_path
from loratui.training.presets import list_presets, load_preset, save_preset
from loratui.training import schema as trainer_schema
from loratui.training.schema import SECTIONS, Option
from loratui.training.validate import MODEL_ROLES
from loratui.training.run.launch import start_training
from loratui.training.run.sweep import create_sweep
from loratui.store.changes import ChangeSet
from loratui.tui.extensions import ScreenAction
from loratui.tui.screens.training_import import ImportConfigScreen
from loratui.tui.screens.confirm import ConfirmScreen
from loratui.tui.screens.sweep_dialog import SweepDialog
from loratui.tui.widgets.key_footer import KeyFooter
from loratui.tui.workers import report_error, work

DEFAULT_PRESET = "sd15-12gb"
NO_SELECTION = getattr(Select, "NULL", None)
"""A Select's empty value (Textual 8 calls it Select.NULL)."""
FAMILY_CHOICES = [(f"{backend} {family}", f"{backend}:{family}") for backend, families in FAMILIES.items()
                  for family in families]


class OptionRow(Vertical):
    """One option: name, editor, the validation message beside it, and its help text."""

    def __init__(self, option: Option, text: str, current) -> None:
        super().__init__(classes="option-row")
        self.option = option
        self.text = text
        self.current = current

    def compose(self) -> ComposeResult:
        option = self.option
        with Horizontal(classes="option-line"):
            yield Label(option.name, classes="option-name")
            if option.type == "bool":
                yield Checkbox("", value=bool(self.current), id=f"opt-{option.name}", classes="option-editor")
            elif option.choices and not option.is_list:
                choices = [(str(c), c) for c in option.choices if c is not None]
                value = self.current if any(self.current == c for _, c in choices) else NO_SELECTION
                yield Select(choices, value=value, allow_blank=True, prompt=f"(default {option.default})",
                             id=f"opt-{option.name}", classes="option-editor")
            else:
                placeholder = "" if option.default is None else f"default {value_text(option.default)}"
                yield Input(self.text, placeholder=placeholder, id=f"opt-{option.name}", classes="option-editor")
            yield Static("", id=f"err-{option.name}", classes="option-error")
        if option.help:
            yield Static(option.short_help, classes="option-help", markup=False)


class TrainingScreen(Screen[None]):
    """Edit a training config with live validation and step count."""

    HELP_SECTION = "training form"

    CSS_PATH = "training.tcss"
    AUTO_FOCUS = "#sections"
    """Open on the section list, not on a text field: keys typed first (a vim user's `j j`) change nothing."""
    HELP_KEYS = [("↑, ↓", "Choose a section (in the section list)"), ("Tab, Shift+Tab", "Next / previous field")]
    BINDINGS = [
        Binding("escape", "close", "Back", id="training.close"),
        Binding("ctrl+s", "save", "Save config", id="training.save"),
        Binding("ctrl+f", "search", "Search options", id="training.search"),
        Binding("ctrl+t", "start", "Start training", id="training.start"),
        Binding("ctrl+g", "set_target", "Set dataset target", id="training.set_target"),
        Binding("ctrl+o", "import_config", "Import config", id="training.import"),
        Binding("ctrl+r", "sweep", "Training sweep", id="training.sweep"),
        Binding("ctrl+e", "next_caption_set", "Next caption set", id="training.caption_set", show=False),
    ]

    def __init__(self, ctx, store, config: TrainConfig, path: Path) -> None:
        super().__init__()
        self.ctx, self.store, self.path = ctx, store, path
        self.form: FormState | None = None
        self.initial = config
        self.section = SECTIONS[0]
        self.search_text = ""
        self._search_timer = None
        self.target = (config.backend, config.family)
        """The backend and family being shown or loaded (a Select echo must not reload it again)."""

    def compose(self) -> ComposeResult:
        presets = [(p.name, p.name) for p in list_presets(self.ctx)]
        with Horizontal(id="training-top"):
            yield Label("Config")
            yield Input(str(self.path), id="config-path", select_on_focus=False)
            yield Select(FAMILY_CHOICES, value=f"{self.initial.backend}:{self.initial.family}", allow_blank=False,
                         id="family")
            yield Select(presets, prompt="Load preset", id="preset")
        with Horizontal(id="training-body"):
            with Vertical(id="training-nav"):
                yield Input(placeholder="search options", id="option-search")
                yield OptionList(*SECTIONS, id="sections")
            yield VerticalScroll(id="option-form")
            with Vertical(id="training-side"):
                # In scrolling boxes: at 80x24 they are short, and Tab + arrows scroll them.
                with VerticalScroll(id="steps-box"):
                    yield Static("", id="steps-panel", markup=False)
                with VerticalScroll(id="issues-box"):
                    yield Static("", id="issues-panel", markup=False)
                with Horizontal(id="preset-save"):
                    yield Input(placeholder="preset name", id="preset-name")
                    yield Button("Save preset", id="save-preset")
                with Horizontal(id="training-buttons"):
                    yield Button("Save", id="save", variant="primary")
                    yield Button("Start", id="start", variant="success")
        yield KeyFooter()

    NARROW_BELOW = 120
    """Terminal width (columns) under which the form switches to its narrow layout."""

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < self.NARROW_BELOW, "-narrow")
        self.call_after_refresh(self.refresh_status)  # the histogram's bars follow the panel's width

    def on_mount(self) -> None:
        self.reload(self.initial)

    def reload(self, config: TrainConfig) -> None:
        """Show `config` (its backend/family may differ: the schema is read again)."""
        self.target = (config.backend, config.family)
        self.load_schema(config)

    # -- loading ------------------------------------------------------------------------------------------

    @work(exclusive=True, group="schema")
    async def load_schema(self, config: TrainConfig) -> None:
        """Read the trainer's options (a subprocess the first time; cached after) and the dataset."""
        self.query_one("#steps-panel", Static).update("reading the trainer's options…")
        try:
            schema = await asyncio.to_thread(trainer_schema.load_schema, self.ctx, config.backend, config.family)
        except LoratuiError as exc:
            report_error(self, exc)
            schema = trainer_schema.builtin_schema(config.backend, config.family)
        form = FormState(config, schema)
        await form.load_dataset(self.store)
        self.form = form
        await self.show_options()
        self.refresh_status()
        # Once more when the panels have their size: the histogram's bars are cut to the steps panel's width.
        self.call_after_refresh(self.refresh_status)

    async def show_options(self) -> None:
        """Rebuild the form for the current section or search."""
        if self.form is None:
            return
        container = self.query_one("#option-form", VerticalScroll)
        await container.remove_children()
        options = self.form.options(self.section, self.search_text or None)
        rows = [OptionRow(o, self.form.text_of(o.name), self.form.config.args.get(o.name)) for o in options]
        if not rows:
            rows = [Static("no option matches", classes="option-help")]
        await container.mount_all(rows)
        self.refresh_status()

    # -- live status --------------------------------------------------------------------------------------

    def refresh_status(self) -> None:
        """Redraw the step calculator, the histogram and every visible field's message."""
        if self.form is None:
            return
        report = self.form.steps()
        # One fact a line, the total first: the panel is 24 columns wide at 80x24 and shows its first lines.
        lines = [f"total steps {report.total_steps}",
                 f"dataset {self.form.config.dataset or '(none)'}",
                 self.form.target_line(),
                 *([self.form.caption_set_line()] if len(self.form.caption_sets) > 1 else []),
                 f"epochs {report.epochs}",
                 f"steps/epoch {report.steps_per_epoch}",
                 f"batches/epoch {report.batches_per_epoch}",
                 f"images {report.images}",
                 f"with repeats {report.images_with_repeats}"]
        if report.eta_seconds is not None:
            lines.append(f"ETA {int(report.eta_seconds // 60)} min, {report.seconds_per_step:.2f} s/step")
        panel = self.query_one("#steps-panel", Static)
        lines += ["", "buckets:"] + histogram_lines(report.buckets, self._bar_width(panel, report.buckets))
        lines += [f"note: {n}" for n in report.notes]
        panel.update("\n".join(lines))
        by_field = self.form.issues_by_field()
        for widget in self.query(".option-error").results(Static):
            name = (widget.id or "")[4:]
            issue = by_field.get(name)
            widget.update(f"{'✗' if issue.severity == 'error' else '!'} {issue.message}" if issue else "")
            widget.set_class(issue is not None and issue.severity == "error", "-error")
        issues = self.form.issues()
        errors = [i for i in issues if i.severity == "error"]
        # The option's name on a line of its own (cut with … if the panel is narrower), the message below it.
        warnings = len(issues) - len(errors)
        summary = [Text(f"{len(errors)} error{'' if len(errors) == 1 else 's'}, "
                        f"{warnings} warning{'' if warnings == 1 else 's'}")]
        for issue in issues[:8]:
            summary.append(Text(f"{'✗' if issue.severity == 'error' else '!'} {issue.field}", no_wrap=True,
                                overflow="ellipsis", style="bold"))
            summary.append(Text(f"  {issue.message}"))
        self.query_one("#issues-panel", Static).update(Group(*summary))

    @staticmethod
    def _bar_width(panel: Static, buckets: dict[str, int]) -> int:
        """The histogram bar length that keeps each line ('640x384 ████ 20') inside the panel."""
        if not buckets or not panel.content_size.width:
            return 24
        label = max(len(name) for name in buckets)
        count = max(len(str(n)) for n in buckets.values())
        return max(4, min(24, panel.content_size.width - label - count - 2))

    # -- edits --------------------------------------------------------------------------------------------

    @on(Input.Changed, ".option-editor")
    def input_changed(self, event: Input.Changed) -> None:
        if self.form is not None and event.input.id:
            self.form.set_text(event.input.id[4:], event.value)
            self.refresh_status()

    @on(Checkbox.Changed, ".option-editor")
    def checkbox_changed(self, event: Checkbox.Changed) -> None:
        if self.form is not None and event.checkbox.id:
            self.form.set_value(event.checkbox.id[4:], True if event.value else None)
            self.refresh_status()

    @on(Input.Submitted, ".option-editor")
    async def model_file_submitted(self, event: Input.Submitted) -> None:
        """Enter in a model-file field: the file goes to the option its header says, and sets the family."""
        name = (event.input.id or "")[4:]
        path = Path(event.value.strip()).expanduser()
        if self.form is None or name not in MODEL_ROLES or not path.is_file():
            return
        try:
            config, notes = await asyncio.to_thread(config_from_model_files, self.form.config, [str(path)])
        except LoratuiError as exc:
            report_error(self, exc)
            return
        placed = [role for role in MODEL_ROLES if role != name and config.args.get(role) == str(path)]
        if placed:
            config.args.pop(name, None)  # the file belongs to another option
            notes.append(f"{path.name} → {placed[0]}")
        for note in notes:
            self.notify(note)
        if (config.backend, config.family) != self.target:
            self.reload(config)
            self.query_one("#family", Select).value = f"{config.backend}:{config.family}"
            return
        self.form.config = config
        await self.show_options()

    @on(Select.Changed, ".option-editor")
    def select_changed(self, event: Select.Changed) -> None:
        if self.form is not None and event.select.id:
            value = None if event.value is NO_SELECTION else event.value
            self.form.set_value(event.select.id[4:], value)
            self.refresh_status()

    @on(OptionList.OptionHighlighted, "#sections")
    async def section_chosen(self, event: OptionList.OptionHighlighted) -> None:
        section = SECTIONS[event.option_index]
        if section != self.section or self.search_text:
            self.section, self.search_text = section, ""
            self.query_one("#option-search", Input).value = ""
            await self.show_options()

    @on(Input.Changed, "#option-search")
    def search_typed(self, event: Input.Changed) -> None:
        # Rebuilding the form on every keystroke is wasted work: wait for a pause in typing.
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(0.25, self.apply_search)

    @on(Input.Submitted, "#option-search")
    async def apply_search(self) -> None:
        text = self.query_one("#option-search", Input).value.strip()
        if text != self.search_text:
            self.search_text = text
            await self.show_options()

    @on(Select.Changed, "#family")
    def family_changed(self, event: Select.Changed) -> None:
        if self.form is None or event.value is NO_SELECTION:
            return
        backend, family = str(event.value).split(":")
        if (backend, family) != self.target:
            config = self.form.config.copy()
            config.backend, config.family = backend, family
            self.reload(config)

    @on(Select.Changed, "#preset")
    def preset_chosen(self, event: Select.Changed) -> None:
        if self.form is None or event.value is NO_SELECTION:
            return
        try:
            config = load_preset(self.ctx, str(event.value))
        except LoratuiError as exc:
            report_error(self, exc)
            return
        config.dataset = self.form.config.dataset
        for key in ("pretrained_model_name_or_path", "output_dir", "output_name", "clip_l", "t5xxl", "ae"):
            if not config.args.get(key) and self.form.config.args.get(key):
                config.args[key] = self.form.config.args[key]  # keep the paths already filled in
        self.reload(config)
        self.query_one("#family", Select).value = f"{config.backend}:{config.family}"
        self.notify(f"Loaded preset {event.value}")

    # -- changes (see loratui.tui.refresh) ----------------------------------------------------------------

    def apply_changes(self, changes: ChangeSet) -> None:
        """A dataset's target may have changed (here, in the main screen or from the CLI): compare again."""
        if self.form is not None and changes.touches_datasets():
            self.reload_target()

    @work(exclusive=True, group="target")
    async def reload_target(self) -> None:
        if self.form is None:
            return
        dataset = await self.store.run(dataset_repo.find_dataset, name=self.form.config.dataset)
        self.form.dataset_target = dataset.target if dataset is not None else None
        self.refresh_status()

    # -- actions ------------------------------------------------------------------------------------------

    def action_set_target(self) -> None:
        """Make this form's family, resolution and bucket options the dataset's target: the image list, the
        preview and `dataset show` then show the buckets this config trains with."""
        if self.form is None or not self.form.config.dataset:
            return
        try:
            target = self.form.as_target()
        except LoratuiError as exc:
            report_error(self, exc)
            return
        self.set_target_job(target)

    @work(exclusive=True, group="target")
    async def set_target_job(self, target) -> None:
        try:
            dataset, moved = await dataset_service.set_target(self.store, self.form.config.dataset, target)
        except LoratuiError as exc:
            report_error(self, exc)
            return
        self.form.dataset_target = dataset.target
        self.refresh_status()
        self.notify(f"{dataset.name}: buckets now at {target.label} ({moved} image(s) moved)", markup=False)

    def action_next_caption_set(self) -> None:
        """Train on the dataset's next caption set (`.txt`, `.caption`, ...): its caption_extension."""
        self._next_caption_set()

    @work(exclusive=True, group="schema")
    async def _next_caption_set(self) -> None:
        if self.form is None:
            return
        chosen = self.form.next_caption_set()
        if chosen is None:
            self.notify("this dataset has one caption set (add one with `loratui captions sets NAME --add .caption`)")
            return
        await self.form.load_dataset(self.store)
        await self.show_options()
        self.notify(f"training on the {chosen} captions")

    def action_close(self) -> None:
        self.app.pop_screen()

    def action_search(self) -> None:
        self.query_one("#option-search", Input).focus()

    def action_import_config(self) -> None:
        """Read another tool's config (kohya_ss, sd-scripts, musubi-tuner, ...) into the form."""
        dataset = self.form.config.dataset if self.form is not None else self.initial.dataset
        self.app.push_screen(ImportConfigScreen(self.ctx, self.store, dataset), self.imported)

    def imported(self, result: Imported | None) -> None:
        """Show an imported config in the form, for the form's dataset; its sample prompts go beside the config."""
        if result is None:
            return
        config = result.config.copy()
        config.dataset = self.form.config.dataset if self.form is not None else self.initial.dataset
        if result.prompts:
            path = prompts_path(Path(self.query_one("#config-path", Input).value.strip() or self.path).expanduser())
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write_text(path, "\n".join(result.prompts) + "\n")
            except OSError as exc:
                report_error(self, exc)
            else:
                config.args["sample_prompts"] = str(path)
        self.reload(config)
        self.query_one("#family", Select).value = f"{config.backend}:{config.family}"
        dropped = len(result.report.by_status("dropped"))
        self.notify(f"Imported {', '.join(sorted(set(result.kinds.values())))}: {dropped} key(s) dropped (see the report); "
                    "Ctrl+S saves it")

    def action_save(self) -> None:
        """Write the config file (asks first about a missing .toml or an existing file)."""
        self._save_worker()

    @work(exclusive=True, group="save")
    async def _save_worker(self) -> None:
        await self.save_config_file()

    async def save_config_file(self) -> Path | None:
        """Write the config to the path in the Config field; returns it (None when not written).

        A path that does not end in ``.toml`` is offered with ``.toml`` added (the trainers and ``loratui train``
        read TOML files); an existing file other than the one this form opened or last saved is overwritten only
        after asking.
        """
        if self.form is None:
            return None
        field = self.query_one("#config-path", Input)
        path = Path(field.value.strip() or str(self.path)).expanduser()
        if path.suffix.lower() != ".toml":
            fixed = path.with_name(path.name + ".toml")
            if not await self.app.push_screen_wait(ConfirmScreen(
                    "Save as a .toml file?", f"A training config is a TOML file. Save it as\n{fixed.absolute()}?",
                    yes="Add .toml", no="Cancel")):
                self.notify("Not saved: the config path must end in .toml", severity="warning")
                return None
            path = fixed
            field.value = str(path)
        if path.is_dir():
            self.notify(f"Not saved: {path} is a folder", severity="error")
            return None
        if path.exists() and not _same_file(path, self.path):
            if not await self.app.push_screen_wait(ConfirmScreen(
                    "Overwrite?", f"{path.absolute()} exists. Replace it with this config?",
                    yes="Overwrite", no="Cancel")):
                self.notify("Not saved", severity="warning")
                return None
        try:
            save_config(self.form.config, path)
        except (OSError, LoratuiError) as exc:
            report_error(self, exc)
            return None
        self.path = path
        self.notify(f"Saved {path}")
        return path

    @on(Button.Pressed, "#save")
    def save_pressed(self) -> None:
        self.action_save()

    @on(Button.Pressed, "#save-preset")
    def save_preset_pressed(self) -> None:
        if self.form is None:
            return
        name = self.query_one("#preset-name", Input).value.strip()
        try:
            path = save_preset(self.ctx, name, self.form.config, overwrite=True)
        except LoratuiError as exc:
            report_error(self, exc)
            return
        self.notify(f"Saved preset {name} ({path})")

    @on(Button.Pressed, "#start")
    def start_pressed(self) -> None:
        self.action_start()

    def action_start(self) -> None:
        """Save, refuse while there are errors, then hand the config to the training runner."""
        self._start_worker()

    def _refused_for_errors(self) -> bool:
        """True (after saying which) when the form has errors that must be fixed before a start."""
        errors = [i for i in self.form.issues() if i.severity == "error"]
        if errors:
            self.notify(f"Fix {len(errors)} error(s) first: {errors[0].field}: {errors[0].message}",
                        severity="error")
        return bool(errors)

    @work(exclusive=True, group="save")
    async def _start_worker(self) -> None:
        if self.form is None or self._refused_for_errors():
            return
        path = await self.save_config_file()
        if path is not None:
            self.start_job(path)

    @work(exclusive=True, group="start")
    async def start_job(self, path: Path) -> None:
        dataset = await self.store.run(dataset_repo.find_dataset, name=self.form.config.dataset)
        job_id = await start_training(self.store, self.ctx, path, dataset_id=dataset.id if dataset else None)
        self.notify(f"Training job {job_id} started")

    def action_sweep(self) -> None:
        """Ask for grid values, save, and queue one training per combination (a training sweep)."""
        self._sweep_worker()

    @work(exclusive=True, group="save")
    async def _sweep_worker(self) -> None:
        if self.form is None or self._refused_for_errors():
            return
        grid = await self.app.push_screen_wait(SweepDialog(self.form.schema, self.form.config))
        if grid is None:
            return
        path = await self.save_config_file()
        if path is None:
            return
        sweep = await create_sweep(self.store, self.ctx, path, grid)
        self.notify(f"Training sweep {sweep.id}: {len(sweep.runs)} jobs queued (monitor: V compares them)")


def _same_file(a: Path, b: Path) -> bool:
    """True when `a` and `b` name the same file (`b` may not exist)."""
    try:
        return a.resolve() == b.expanduser().resolve()
    except OSError:
        return False


def config_path_for(ctx, dataset_name: str) -> Path:
    """Where the form keeps a dataset's training config."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in dataset_name) or "training"
    return ctx.paths.home / "training" / f"{safe}.toml"


def open_training(app):
    """ScreenAction factory: the form for the app's current dataset (its saved config, or a preset)."""
    dataset = getattr(app, "current_dataset", None)
    if dataset is None:
        app.notify("Open a dataset first: the training form works on the current dataset", severity="warning")
        return None
    path = config_path_for(app.ctx, dataset.name)
    try:
        # A new config starts from the preset of the family the dataset is prepared for (its target).
        config = load_config(path) if path.exists() else starting_config(app.ctx, dataset.target, DEFAULT_PRESET)
    except LoratuiError as exc:
        app.notify(f"{exc.one_line()}; starting from preset {DEFAULT_PRESET}", severity="warning")
        config = load_preset(app.ctx, DEFAULT_PRESET)
    config.dataset = dataset.name
    return TrainingScreen(app.ctx, app.store, config, path)


ACTIONS = [ScreenAction(id="training.open", key="C", description="Training config", factory=open_training)]
