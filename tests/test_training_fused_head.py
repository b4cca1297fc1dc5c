"""Training on CPU projects only the labelled positions onto the vocabulary, and the loss stays the model's own."""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM

from workbench.training.fused_head import score_only_labelled_positions


def test_cpu_scores_only_labelled_positions_with_the_same_loss_and_gradients(tiny_model_dir):
    import trl.trainer.utils as trl_utils

    score_only_labelled_positions()
    score_only_labelled_positions()  # twice is harmless (trainers call it each time they are built)
    # If a TRL upgrade drops this switch, training silently gets slower again: fail here instead.
    assert trl_utils._use_triton(torch.device("cpu")) is True

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    reference = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    trl_utils.add_fused_lm_head(model, outputs=("log_probs", "entropy", "is_top1"))
    ids = torch.randint(5, 1000, (3, 12))
    labels = ids.clone()
    labels[:, :8] = -100  # a prompt: no loss on its positions

    fused = model(input_ids=ids, labels=labels, fused_lm_head=True)
    fused.loss.backward()
    plain = reference(input_ids=ids, labels=labels)
    plain.loss.backward()

    assert torch.allclose(fused.loss, plain.loss, atol=1e-5)
    assert (fused.log_probs[:, :7] == 0).all() and (fused.log_probs[:, 7:] != 0).all()
    for (name, p), q in zip(model.named_parameters(), reference.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-5), name
