"""`npgbench list`: the algorithms (built-ins and plugins) and suites, a variant's config
fields with their docstrings, or the metrics.parquet columns."""

from __future__ import annotations


def print_fields(algo: str) -> None:
    """Every dotted config key of `algo` with its default and docstring."""
    import dataclasses

    from npgbench.harness.core.config import field_docs
    from npgbench.harness.runner import resolve_config

    cfg = resolve_config(algo, "InvertedPendulum-v5")

    def walk(obj, prefix: str) -> None:
        docs = field_docs(type(obj))
        for f in dataclasses.fields(obj):
            value = getattr(obj, f.name)
            if dataclasses.is_dataclass(value):
                walk(value, f"{prefix}{f.name}.")
            else:
                print(f"  {prefix + f.name:<34} {value!s:<12} {docs.get(f.name, '')}")

    print(f"config fields of {algo} (set with --set key=value):")
    walk(cfg, "")


def print_metrics() -> None:
    """Every metrics.parquet column (harness/core/metrics.py), then each variant's own."""
    from npgbench.algorithms.registry import registry
    from npgbench.harness.core.metrics import CONDITIONS, METRICS

    def show(metrics) -> None:
        for m in metrics:
            when = f"; only {CONDITIONS.get(m.when, m.when)}" if m.when else ""
            print(
                f"  {m.name:<24} {m.unit:<9} {m.dtype:<7} {', '.join(m.writers):<16} "
                f"{m.wandb or '-':<30} {m.meaning}{when}"
            )

    print("metrics.parquet columns: name, unit, dtype, writer, W&B key, meaning")
    show(METRICS)
    for name, variant in registry().items():
        if variant.metrics:
            print(f"columns of {name}:")
            show(variant.metrics)


def cmd_list(args) -> int:
    from npgbench.algorithms import ALGORITHMS
    from npgbench.algorithms.registry import registry

    if args.fields:
        print_fields(args.fields)
        return 0
    if args.metrics:
        print_metrics()
        return 0
    print("algorithms:")
    try:
        from npgbench.harness.sweep.suite_checks import load_checked_suite as load_suite
        from npgbench.suites import SUITES
    except ImportError:
        SUITES, load_suite = [], None
    variants = registry()
    width = max(map(len, [*variants, *SUITES]))
    for name, variant in variants.items():
        source = "" if name in ALGORITHMS else " [plugin]"
        print(f"  {name:<{width}}  {variant.description}{source}")
    if not SUITES:
        return 0
    print("suites:")
    for name in SUITES:
        suite = load_suite(name)
        print(f"  {name:<{width}}  {suite.description}")
    return 0
