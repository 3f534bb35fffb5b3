"""One comma-separated-list parser (pianocoach.cli_args) behind every command line's list flags."""

import argparse

import pytest

from pianocoach.cli_args import choice_list, split_list
from pianocoach_export.cli import build_parser as export_parser
from pianocoach_train.cli import build_parser as train_parser


def test_split_list_strips_items_and_drops_empty_ones():
    assert split_list("a, b,,c ") == ("a", "b", "c")
    assert split_list("") == () and split_list(" , ") == ()
    assert [float(x) for x in split_list("1,5, 20")] == [1.0, 5.0, 20.0]  # pianocoach.bench --lengths


def test_choice_list_refuses_unknown_names_in_one_line():
    parse = choice_list(("performer", "piece"), "split")
    assert parse("piece, performer") == ("piece", "performer")
    with pytest.raises(argparse.ArgumentTypeError, match="^unknown split works, x; choose from performer, piece$"):
        parse("works,piece,x")
    with pytest.raises(argparse.ArgumentTypeError, match="^unknown split ','; choose from"):
        parse(",")


def test_the_command_lines_use_it(capsys):
    args = train_parser().parse_args(["audio", "eval", "--models", "pc_fcn, hybrid", "--splits", "performer,piece"])
    assert (args.models, args.splits) == (("pc_fcn", "hybrid"), ("performer", "piece"))
    assert train_parser().parse_args(["llm", "data", "--sources", "jianzipu,musicpile"]).sources == (
        "jianzipu",
        "musicpile",
    )
    assert export_parser().parse_args(["export", "--models", "blend, mlp"]).models == ("blend", "mlp")
    with pytest.raises(SystemExit):
        export_parser().parse_args(["export", "--models", "blend,nope"])
    assert "unknown model nope; choose from" in capsys.readouterr().err
