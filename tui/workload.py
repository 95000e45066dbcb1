"""The setup screen's Workload section: the load shape and its own fields, prompts, SLOs, workers.

A view of engine.workload's form and nothing more: it shows the fields the chosen shape uses
(engine.workload.visible_fields), posts the whole form up when any field changes, and shows under
each row the error the engine found in it (set by the screen: attributes down).
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Label, Select

from engine.options.table import FORM
from engine.shapes.registry import FORM_ROWS, choices
from engine.workload import DATASETS, WorkloadForm, visible_fields

# The section's rows, in order: a row's first field carries the row's label, the others their own
# short one. A row shows when any of its fields does; the fixed grid shows five rows. Each load
# shape brings its own rows (engine/shapes).
ROWS: dict[str, tuple[str, ...]] = {
    "shape": ("shape", "workers", "repeats"),
    **{row[0]: row for row in FORM_ROWS},
    "seq": ("seq",),
    "prompts": ("prompts",),
    "arrival": ("arrival", "burstiness"),
    "num_prompts": ("num_prompts", "max_concurrency"),
    "dataset": ("dataset", "dataset_arg", "input_len_range", "output_len_range"),
    "slo": ("slo",),
}
ROW_OF = {name: row for row, names in ROWS.items() for name in names}
ROW_LABELS = {"shape": "Workload"}
# A field with choices is a list: the shape, the dataset's kind, and every option that has choices.
CHOICES: dict[str, list[tuple[str, str]]] = {
    **{name: [(str(c), str(c)) for c in info.choices] for name, info in FORM.items() if info.choices},
    "shape": choices(),
    "dataset": [(text, key) for key, text in DATASETS.items()],
    "percentile": [(f"p{p}", str(p)) for p in FORM["percentile"].choices],
}
UNLABELLED = {"dataset_arg"}  # its placeholder says what it takes
# Where a field may stay empty, its placeholder says what empty means (the engine's default).
PLACEHOLDERS = {
    "slo": "none (e.g. ttft:500,tpot:50,e2el:10000: goodput per cell)",
    "num_prompts": "default: about 20 s of arrivals",
    "max_concurrency": "no cap",
    "speedup": "1",
}


class WorkloadSection(Vertical):
    """Fields of engine.workload.WorkloadForm, laid out in rows."""

    class Changed(Message):
        """The form as it now reads (posted on every edit of any field)."""

        def __init__(self, form: WorkloadForm) -> None:
            super().__init__()
            self.form = form

    def __init__(self, form: WorkloadForm, **kwargs) -> None:
        super().__init__(**kwargs)
        self.initial = form

    def compose(self) -> ComposeResult:
        for row, names in ROWS.items():
            with Horizontal(classes="row", id=f"{row}-row"):
                yield Label(ROW_LABELS.get(row, FORM[names[0]].label), classes="field")
                for i, name in enumerate(names):
                    if i and name not in UNLABELLED:
                        yield Label(FORM[name].label, classes="sub", id=f"{name}-label")
                    yield self._field(name)
            yield Label("", id=f"{row}-error", classes="field-error")
        yield Label("", id="workload-error", classes="field-error")

    def _field(self, name: str) -> Input | Select:
        value = getattr(self.initial, name)
        if name in CHOICES:
            return Select(CHOICES[name], value=value, id=name, allow_blank=False, compact=True)
        placeholder = PLACEHOLDERS.get(name) or FORM[name].example
        return Input(value, placeholder=placeholder, id=name, compact=True)

    def on_mount(self) -> None:
        self.show_fields(self.initial)

    def form(self) -> WorkloadForm:
        values = {}
        for name in ROW_OF:
            widget = self.query_one(f"#{name}")
            values[name] = str(widget.value)
        return WorkloadForm(**values)

    def show_fields(self, form: WorkloadForm) -> None:
        shown = visible_fields(form)
        for row, names in ROWS.items():
            self.query_one(f"#{row}-row").display = any(n in shown for n in names)
            for name in names[1:]:
                self.query_one(f"#{name}").display = name in shown
                if name not in UNLABELLED:
                    self.query_one(f"#{name}-label").display = name in shown

    def show_errors(self, errors: dict[str, str]) -> None:
        """Each error under its field's row; one no field explains under the section."""
        by_row: dict[str, list[str]] = {}
        for name, text in errors.items():
            by_row.setdefault(ROW_OF.get(name, "workload"), []).append(text)
        for row in [*ROWS, "workload"]:
            label = self.query_one(f"#{row}-error", Label)
            label.update("\n".join(by_row.get(row, [])))
            label.display = row in by_row

    @property
    def has_errors(self) -> bool:
        return any(label.display for label in self.query(".field-error"))

    @on(Input.Changed)
    @on(Select.Changed)
    def _edited(self, event: Input.Changed | Select.Changed) -> None:
        event.stop()  # the screen hears one message for the section: the whole form
        form = self.form()
        self.show_fields(form)
        self.post_message(self.Changed(form))
