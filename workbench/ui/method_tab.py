"""Which-method helper: hardware, purpose and data -> a recommended method, from the selection tables of the guides
this project started from.

The tables are the "Situation-Specific Selection Guide" (by hardware, by purpose, by data), kept as data;
the answer can be applied to the Train tab's settings with one click.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import gradio as gr

from workbench.training.config import DEFAULT_LEARNING_RATES, default_lora_alpha

# By hardware (GPU memory): the adaptation that fits. A laptop CPU runs the 135M model with LoRA; QLoRA
# saves memory there too but de-quantising costs time, so it is the choice only when memory is tight.
HARDWARE = {
    "Laptop CPU (no GPU)": ("lora", "a CPU has memory for LoRA on a small model; QLoRA would be ~2x slower here"),
    "GPU with 8 GB or less": ("qlora", "<=8 GB: SFT + QLoRA (the base in 4-bit)"),
    "GPU with 16-24 GB": ("lora", "16-24 GB: SFT + LoRA for 7B-13B models"),
    "GPU with 24-80 GB": ("lora", "24 GB+: LoRA or QLoRA for 13B+ models"),
    "GPU with 80 GB or more": ("full", "80 GB+: full fine-tuning is possible"),
}
# By purpose: (method to start with, adaptation preference or None, the table's words).
PURPOSE = {
    "Domain specialization": ("sft", None, "SFT + LoRA: stable, fast"),
    "Conversational assistant": ("sft", None, "SFT -> DPO: start with SFT on demonstrations, then DPO on preferences"),
    "Rapid prototyping": ("sft", "qlora", "SFT + QLoRA: minimal resources"),
    "Production deployment": ("dpo", None, "DPO + LoRA: balanced performance"),
}
# By data size: (adaptation preference or None, the table's words).
DATA_SIZE = {
    "Small (under 1K examples)": (
        "lora",
        "small, high-quality data: LoRA (few trainable parameters, less overfitting)",
    ),
    "Medium (1K-10K)": ("lora", "1K-10K: SFT + LoRA"),
    "Large (over 10K)": (None, "10K+ mixed-quality data: SFT, then DPO to sort good answers from bad"),
}
DATA_KIND = [
    "Demonstrations (prompt -> answer)",
    "Preference pairs (chosen / rejected)",
    "Answers marked good or bad (Chat thumbs)",
]


@dataclass
class Recommendation:
    method: str
    adaptation: str
    lora_r: int
    learning_rate: float
    reasons: list[str] = field(default_factory=list)

    def markdown(self) -> str:
        lines = [
            f"### Recommended: {self.method.upper()} + "
            f"{self.adaptation.upper() if self.adaptation != 'full' else 'full fine-tuning'}"
        ]
        lines += [f"- {reason}" for reason in self.reasons]
        if self.adaptation != "full":
            lines.append(
                f"- start with LoRA r={self.lora_r}, alpha={default_lora_alpha(self.lora_r)}, learning rate "
                f"{self.learning_rate:g}"
            )
        return "\n".join(lines)


def recommend(hardware: str, purpose: str, data_size: str, data_kind: str) -> Recommendation:
    """Combine the three tables: hardware sets what fits, purpose and data refine it, the data kind decides DPO or
    KTO.

    Example:
        >>> recommend("GPU with 8 GB or less", "Domain specialization", "Medium (1K-10K)", DATA_KIND[0]).adaptation
        'qlora'
    """
    fits, hardware_why = HARDWARE[hardware]
    method, purpose_adaptation, purpose_why = PURPOSE[purpose]
    data_adaptation, data_why = DATA_SIZE[data_size]
    reasons = [f"hardware: {hardware_why}", f"purpose: {purpose_why}", f"data: {data_why}"]
    adaptation = fits
    # Full fine-tuning only when the hardware allows it and there is enough data to move every weight.
    if fits == "full" and data_adaptation == "lora":
        adaptation = "lora"
        reasons.append("with under 10K examples an adapter is enough even where full fine-tuning fits")
    if purpose_adaptation == "qlora" and fits != "full":
        adaptation = "qlora"
    if fits == "qlora":
        adaptation = "qlora"  # nothing larger fits, whatever the purpose
    pairs = data_kind == DATA_KIND[1]
    if data_kind == DATA_KIND[2]:
        method = "kto"
        reasons.append("your data is single answers marked good or bad, which KTO learns from (no pairs needed)")
    elif method == "dpo" and not pairs:
        method = "sft"
        reasons.append(
            "DPO needs preference pairs: train SFT on your demonstrations first, then vote on the Arena tab to "
            "collect pairs"
        )
    elif pairs and method == "sft":
        method = "dpo"
        reasons.append("your data is preference pairs, which DPO learns from")
    lora_r = 8 if data_size.startswith("Small") else 16 if data_size.startswith("Medium") else 32
    return Recommendation(method, adaptation, lora_r, DEFAULT_LEARNING_RATES[(method, adaptation)], reasons)


def build_method_tab(train, tabs: gr.Tabs) -> None:
    """``train``: the Train tab's controls that "Apply" fills in; ``tabs``: to switch to the Train tab."""

    def advise(*answers):
        return recommend(*answers).markdown()

    def apply(*answers):
        r = recommend(*answers)
        return (
            r.method,
            r.adaptation,
            r.lora_r,
            default_lora_alpha(r.lora_r),
            r.learning_rate,
            gr.Tabs(selected="train"),
        )

    with gr.Tab("Which method?", id="method"):
        gr.Markdown(
            "Answer three questions; the recommendation follows the selection guide's tables by hardware, "
            "purpose and data size."
        )
        with gr.Row():
            hardware = gr.Radio(list(HARDWARE), value="Laptop CPU (no GPU)", label="Hardware")
            purpose = gr.Radio(list(PURPOSE), value="Domain specialization", label="Purpose")
        with gr.Row():
            data_size = gr.Radio(list(DATA_SIZE), value="Small (under 1K examples)", label="Data size")
            data_kind = gr.Radio(DATA_KIND, value=DATA_KIND[0], label="Data kind")
        answers = [hardware, purpose, data_size, data_kind]
        advice = gr.Markdown(recommend(*(c.value for c in answers)).markdown())
        apply_button = gr.Button("Apply to the Train tab", variant="primary")
        gr.on([c.input for c in answers], advise, inputs=answers, outputs=advice, api_name="recommend")
        apply_button.click(
            apply,
            inputs=answers,
            outputs=[train.method, train.adaptation, train.lora_r, train.lora_alpha, train.learning_rate, tabs],
        )
