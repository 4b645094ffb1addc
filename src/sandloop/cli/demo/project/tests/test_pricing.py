# The bundled demo project of `sandloop demo`; plain unittest, run with python3 -m unittest.
import unittest

from shop.pricing import Line, subtotal, total


class SubtotalTest(unittest.TestCase):
    def test_single_items(self) -> None:
        self.assertEqual(subtotal([Line("pen", 150), Line("pad", 325)]), 475)

    def test_quantities_count(self) -> None:
        self.assertEqual(subtotal([Line("pen", 150, quantity=4)]), 600)


class TotalTest(unittest.TestCase):
    def test_discount_rounds_half_up(self) -> None:
        # 3 x 333 = 999 cents; 15% of that is 149.85, rounded to 150.
        self.assertEqual(total([Line("mug", 333, quantity=3)], discount_percent=15), 849)

    def test_no_discount(self) -> None:
        self.assertEqual(total([Line("pen", 150, quantity=2)]), 300)

    def test_bad_discount(self) -> None:
        with self.assertRaises(ValueError):
            total([Line("pen", 150)], discount_percent=120)


if __name__ == "__main__":
    unittest.main()
