"""Setup: choose model, hardware, recipe, mode and workload; preview the exact launch; save/open."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Label, Select, Static

from engine.profiles import ProfileError, ResolvedProfile, apply_overrides, bundled_names, load_part, load_profile
from engine.run.preflight import PreflightError, preflight
from engine.server.launcher import launch_preview
from engine.workload import apply_form, form_from_profile, plan_summary, workload_notes
from tui.messages import StartRun
from tui.screens.prompts import PathPrompt
from tui.workload import WorkloadSection


def _options(kind: str) -> list[tuple[str, str]]:
    return [(n, n) for n in bundled_names(kind)]


class SetupScreen(Screen):
    SUB_TITLE = "setup"
    BINDINGS = [
        Binding("ctrl+r", "run", "Run"),
        Binding("ctrl+s", "save", "Save profile"),
        Binding("ctrl+o", "open", "Open profile"),
        Binding("ctrl+l", "results", "Open results"),
        Binding("ctrl+b", "app.browse_runs", "Runs"),
        Binding("ctrl+q", "app.quit", "Quit"),
    ]

    def __init__(self, profile: ResolvedProfile) -> None:
        super().__init__()
        self.profile = profile

    def compose(self) -> ComposeResult:
        p = self.profile
        yield Header()
        with VerticalScroll(id="form"):
            with Horizontal(classes="row"):
                yield Label("Run profile", classes="field")
                yield Select(
                    _options("run"),
                    value=p.name if p.name in bundled_names("run") else Select.NULL,
                    id="run",
                    allow_blank=True,
                    prompt="(custom)",
                    compact=True,
                )
            with Horizontal(classes="row"):
                yield Label("Model", classes="field")
                yield self._part_select("model", p.model.name)
                yield Input(p.model.id, placeholder="HF id or local path", id="model_id", compact=True)
            with Horizontal(classes="row"):
                yield Label("Hardware", classes="field")
                yield self._part_select("hardware", p.hardware.name)
            with Horizontal(classes="row"):
                yield Label("Recipe", classes="field")
                yield self._part_select("recipe", p.recipe.name)
            with Horizontal(classes="row"):
                yield Label("Mode", classes="field")
                yield Select(
                    [(m, m) for m in ("server", "inprocess", "external")],
                    value=p.mode,
                    id="mode",
                    allow_blank=False,
                    compact=True,
                )
                yield Input(p.endpoint or "", placeholder="endpoint URL (external)", id="endpoint", compact=True)
            yield WorkloadSection(form_from_profile(p), id="workload")
            yield Label("", id="error")
            yield Static("", id="preview")
        yield Footer()

    @staticmethod
    def _part_select(kind: str, name: str) -> Select:
        """A bundled part to choose; "(custom)" when the profile's own is not one of them."""
        value = name if name in bundled_names(kind) else Select.NULL
        return Select(_options(kind), value=value, id=kind, prompt="(custom)", compact=True)

    def on_mount(self) -> None:
        self.refresh_preview()

    # -- attributes down: re-render from self.profile -------------------------------------
    def refresh_preview(self) -> None:
        p = self.profile
        lines = [f"{p.name}: {plan_summary(p)}", *workload_notes(p)]
        if self.query_one(WorkloadSection).has_errors:  # the preview is of the last workload that was valid
            lines.insert(0, "(not applied yet: the workload fields in red; below, the last valid workload)")
        try:
            preview = launch_preview(p)
            lines += [f"{k}={v}" for k, v in preview.env.items()] + [preview.command, preview.isolation.describe()]
        except Exception as exc:  # the preview says what is wrong rather than crash
            lines.append(f"cannot build the launch command: {exc}")
        self.query_one("#preview", Static).update("\n".join(lines))

    def set_profile(self, profile: ResolvedProfile) -> None:
        self.profile = profile
        self.query_one("#error", Label).update("")
        self.refresh_preview()

    def show_error(self, message: str) -> None:
        self.query_one("#error", Label).update(message)

    def _override(self, **overrides) -> None:
        try:
            self.set_profile(apply_overrides(self.profile, **overrides))
        except ProfileError as exc:
            self.show_error(str(exc))

    # -- input handlers -------------------------------------------------------------------
    @on(Select.Changed, "#run")
    def _run_changed(self, event: Select.Changed) -> None:
        if event.value is not Select.NULL and event.value != self.profile.name:
            self.load(load_profile(str(event.value)))

    @on(Select.Changed, "#model, #hardware, #recipe")
    def _part_changed(self, event: Select.Changed) -> None:
        kind = event.select.id
        if event.value is Select.NULL or event.value == getattr(self.profile, kind).name:
            return
        part = load_part(str(event.value), kind)
        self._override(**{kind: part.model_dump()})
        if kind == "model":
            self.query_one("#model_id", Input).value = self.profile.model.id

    @on(Select.Changed, "#mode")
    def _mode_changed(self, event: Select.Changed) -> None:
        if event.value != self.profile.mode:
            self._override(mode=event.value)

    @on(Input.Changed, "#model_id")
    def _model_id(self, event: Input.Changed) -> None:
        if event.value.strip() and event.value.strip() != self.profile.model.id:
            self._override(**{"model.id": event.value.strip()})

    @on(Input.Changed, "#endpoint")
    def _endpoint(self, event: Input.Changed) -> None:
        self._override(endpoint=event.value.strip() or None)

    @on(WorkloadSection.Changed)
    def _workload(self, event: WorkloadSection.Changed) -> None:
        profile, errors = apply_form(self.profile, event.form)
        self.query_one(WorkloadSection).show_errors(errors)
        if profile is not None:
            self.set_profile(profile)
        else:
            self.refresh_preview()

    # -- actions --------------------------------------------------------------------------
    def load(self, profile: ResolvedProfile) -> None:
        """Show another profile: the form is rebuilt from it."""
        self.app.switch_screen(SetupScreen(profile))

    def action_run(self) -> None:
        if self.query_one("#error", Label).render().plain or self.query_one(WorkloadSection).has_errors:
            self.notify("fix the error first", severity="error")
            return
        try:
            notes = preflight(self.profile, self.app.results_root)
        except PreflightError as exc:
            self.show_error(str(exc))
            return
        for note in notes:
            self.notify(note)
        self.post_message(StartRun(self.profile))

    def action_save(self) -> None:
        def save(path: str | None) -> None:
            if path:
                target = Path(path).expanduser()
                try:
                    target.write_text(self.profile.to_toml())
                    self.notify(f"saved {target}")
                except OSError as exc:
                    self.notify(f"cannot save {target}: {exc}", severity="error")

        self.app.push_screen(PathPrompt("Save profile as (TOML path):", f"{self.profile.name}.toml"), save)

    def action_open(self) -> None:
        def open_(path: str | None) -> None:
            if path:
                try:
                    self.load(load_profile(path))
                except ProfileError as exc:
                    self.show_error(str(exc))

        self.app.push_screen(PathPrompt("Open profile (bundled name or TOML path):"), open_)

    def action_results(self) -> None:
        self.app.action_open_results()
