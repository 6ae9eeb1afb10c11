"""Tool-calling datasets: the model, JSONL I/O, validation, ops, leakage checks and the generator.

A conversation is a plain dict ``{"messages": [...], "tools": [...]?}``; on read, ``arguments`` are
normalised to dicts; on write, the canonical OpenAI form (``arguments`` as a JSON string).
"""

from punie.data.dataset import (
    Conversation,
    TrainingDataset,
    calls_of,
    dumps_line,
    parse_line,
    read_dataset,
    read_jsonl,
    to_canonical,
    write_dataset,
    write_jsonl,
)
from punie.data.examples import (
    ConversationBuilder,
    create_multi_tool_example,
    create_read_file_example,
    create_run_command_example,
    create_write_file_example,
)
from punie.data.generator import SUITE_NAME, generate_dataset, generate_split, heldout_suite_cases
from punie.data.leakage import LeakageReport, check_leakage
from punie.data.validate import Issue, ValidationReport, validate_dataset

__all__ = [
    "SUITE_NAME",
    "Conversation",
    "ConversationBuilder",
    "Issue",
    "LeakageReport",
    "TrainingDataset",
    "ValidationReport",
    "calls_of",
    "check_leakage",
    "create_multi_tool_example",
    "create_read_file_example",
    "create_run_command_example",
    "create_write_file_example",
    "dumps_line",
    "generate_dataset",
    "generate_split",
    "heldout_suite_cases",
    "parse_line",
    "read_dataset",
    "read_jsonl",
    "to_canonical",
    "validate_dataset",
    "write_dataset",
    "write_jsonl",
]
