"""ROUGE-L F-measure (longest common subsequence) as an offline `evaluate` metric, computed by rouge-score."""

import datasets
import evaluate
from rouge_score import rouge_scorer

_DESCRIPTION = "Mean ROUGE-L F1 between each prediction and its reference (rouge-score, stemmed)."
_KWARGS = """predictions: list of str; references: list of str. Returns {"rougeL": mean F1 in [0, 1],
"rougeL_per_example": each pair's F1} (the evaluation shows which examples improved)."""


class RougeL(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation="Lin, 2004. ROUGE: A Package for Automatic Evaluation of Summaries.",
            inputs_description=_KWARGS,
            features=datasets.Features(
                {"predictions": datasets.Value("string"), "references": datasets.Value("string")}
            ),
        )

    def _compute(self, predictions, references):
        scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
        scores = [scorer.score(ref, pred)["rougeL"].fmeasure for pred, ref in zip(predictions, references)]
        return {"rougeL": sum(scores) / len(scores) if scores else 0.0, "rougeL_per_example": scores}
