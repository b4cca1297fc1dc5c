"""A training chat template (with ``{% generation %}`` markers) for models whose own template lacks them.

TRL's ``assistant_only_loss=True`` finds the assistant's tokens through the markers. For templates it knows,
TRL swaps in a marked copy itself (``trl.chat_template_utils.get_training_chat_template``); SmolLM2's is not
among them, so the workbench supplies one that renders exactly the same text.
"""

from __future__ import annotations

from trl.chat_template_utils import get_training_chat_template

from workbench.errors import WorkbenchError

# SmolLM2-135M/360M/1.7B-Instruct's template, as the tokenizer ships it.
SMOLLM2_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# The same text, with the assistant's answer and its <|im_end|> inside the markers: the model must learn to
# stop, so the end-of-turn token is trained; the header "<|im_start|>assistant\n" is the prompt's, since
# generation starts after it.
SMOLLM2_TRAINING_CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{% if message['role'] == 'assistant' %}{{ '<|im_start|>assistant\n' }}"
    "{% generation %}{{ message['content'] + '<|im_end|>' }}{% endgeneration %}{{ '\n' }}"
    "{% else %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# Original template -> its marked twin. Add a row to support another model family.
TRAINING_TEMPLATES = {SMOLLM2_CHAT_TEMPLATE: SMOLLM2_TRAINING_CHAT_TEMPLATE}


def training_chat_template(tokenizer) -> str:
    """The chat template to train with: renders like the tokenizer's own, with generation markers.

    Assign it before building the trainer so TRL's assistant-only loss and the workbench's preview agree:

        >>> tokenizer.chat_template = training_chat_template(tokenizer)
    """
    template = tokenizer.chat_template
    if isinstance(template, dict):  # templates shipped as named variants: "default" is the chat one
        template = template["default"]
    if template is None:
        raise WorkbenchError("the tokenizer has no chat template: use prompt/completion or text data instead")
    if template in TRAINING_TEMPLATES:
        return TRAINING_TEMPLATES[template]
    try:
        # None means the template already has markers and needs no patch.
        return get_training_chat_template(tokenizer) or template
    except ValueError as exc:
        raise WorkbenchError(
            "this model's chat template has no {% generation %} markers and no known training version, so "
            "assistant-only loss cannot find the assistant's tokens: train on whole sequences "
            "(assistant_only_loss=False) or add the markers to the template"
        ) from exc
