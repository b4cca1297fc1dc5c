"""Corpus BLEU as an offline `evaluate` metric, computed by sacrebleu (its default 13a tokenizer)."""

import datasets
import evaluate
import sacrebleu

_DESCRIPTION = "Corpus-level BLEU (0-100) of the predictions against one reference each, by sacrebleu."
_KWARGS = """predictions: list of str; references: list of str. Returns {"bleu": score in [0, 100]}."""


class Bleu(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Post, 2018. A Call for Clarity in Reporting BLEU Scores.",
            inputs_description=_KWARGS,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references):
        return {"bleu": sacrebleu.corpus_bleu(list(predictions), [list(references)]).score}
