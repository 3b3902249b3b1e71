"""The cost model's arithmetic and its reading of template.yaml (`python3 -m unittest discover -s tools`)."""

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cost  # noqa: E402


class CostModel(unittest.TestCase):
    def test_memory_sizes_come_from_the_template(self):
        sizes = cost.memory_sizes((cost.ROOT / "template.yaml").read_text())
        self.assertEqual(set(sizes), {f for functions in cost.FUNCTIONS_OF.values() for f in functions}
                         | {"AnalyticsProcessorFunction"})
        self.assertEqual(sizes["JavaJudgeFunction"], 2048)
        self.assertEqual(sizes["ValidateFunction"], 512, "the Globals' size where the function sets none")

    def test_a_thousand_requests_cost_what_the_price_table_says(self):
        lambda_cost, azure_cost = cost.per_thousand(100, [512], "wat")
        # 1,000 x (0.05 GB-s x price + one request + one HTTP API request).
        self.assertAlmostEqual(lambda_cost["arm64"], 1000 * (0.05 * 0.0000133334 + 0.2e-6 + 1e-6))
        self.assertAlmostEqual(lambda_cost["x86_64"], 1000 * (0.05 * 0.0000166667 + 0.2e-6 + 1e-6))
        self.assertAlmostEqual(azure_cost, 1000 * (0.05 * 0.000016 + 0.2e-6))
        # Azure bills at least 100 ms and memory in steps of 128 MiB; generation is not behind the HTTP API.
        _, short = cost.per_thousand(1, [200], "generation")
        self.assertAlmostEqual(short, 1000 * (256 / 1024 * 0.1 * 0.000016 + 0.2e-6))
        forwarded, _ = cost.per_thousand(100, [512, 1024], "python")
        self.assertAlmostEqual(forwarded["arm64"], 1000 * (0.15 * 0.0000133334 + 0.4e-6 + 1e-6))

    def test_runway_is_the_credits_over_the_monthly_spend(self):
        self.assertEqual(cost.runway(100, 1000), 10)
        self.assertEqual(cost.runway(0, 1000), float("inf"))


if __name__ == "__main__":
    unittest.main()
