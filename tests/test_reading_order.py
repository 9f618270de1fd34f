from adapters.base import Word, box_of, join_reading_order


def test_lines_top_to_bottom_words_left_to_right():
    words = [Word("EXP:08/2023", (60, 42, 160, 60)), Word("2215029520", (55, 2, 150, 20)),
             Word("LOT", (0, 0, 50, 22)), Word("B", (0, 40, 50, 58))]
    assert join_reading_order(words) == "LOT 2215029520 B EXP:08/2023"


def test_slightly_skewed_boxes_stay_on_one_line():
    words = [Word("H02:05", (200, 6, 260, 26)), Word("L2215", (0, 0, 90, 20))]
    assert join_reading_order(words) == "L2215 H02:05"


def test_words_without_boxes_keep_their_order_and_inner_whitespace_collapses():
    assert join_reading_order([Word("LOT  1\n"), Word("EXP 2")]) == "LOT 1 EXP 2"


def test_box_of_polygon():
    assert box_of([[3, 4], [10, 2], [11, 9], [2, 8]]) == (2, 2, 11, 9)
