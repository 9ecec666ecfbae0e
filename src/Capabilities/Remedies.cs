using ArchNet.IR;

namespace ArchNet.Capabilities;

public enum RemedyKind
{
    /// <summary>Canonicalization removes it before anything is rewritten: a node computed from constants and static
    /// shapes once the inputs' sizes are bound (a PyTorch export's Shape -> Gather -> Unsqueeze -> Concat chains), an
    /// Identity or Dropout, a node only such nodes read, or a node merged into one the chip runs (a BatchNormalization
    /// into its Conv).</summary>
    Fold,
    /// <summary>An exact rewrite into supported ops with the same numerics.</summary>
    Rewrite,
    /// <summary>A replacement block trained by the distillation pass.</summary>
    Retrain,
    /// <summary>The compiler has nothing for it yet.</summary>
    None,
}

/// <summary>What the compiler would do about an unsupported node: "fold", the name of an exact rewrite, "retrain", or "none yet".</summary>
public sealed record Remedy(RemedyKind Kind, string Name, string Summary)
{
    public static Remedy NoneYet { get; } = new(RemedyKind.None, "none yet", "no rewrite or retrained replacement is registered");

    public static Remedy Fold { get; } = new(RemedyKind.Fold, "fold",
        "canonicalization removes it (a constant once the inputs' sizes are bound, as the compile binds them; a no-op; or only read by such nodes): the chip never sees it");

    /// <summary>Canonicalization merges the node into <paramref name="node"/> (<paramref name="opType"/>), which the chip runs.</summary>
    public static Remedy Merged(string node, string opType) => new(RemedyKind.Fold, "fold",
        $"canonicalization merges it into '{node}' ({opType}), which the chip runs");

    public static Remedy Rewrite(string ruleName, string summary) => new(RemedyKind.Rewrite, ruleName, summary);

    /// <summary>A distillation replacement; <paramref name="replacement"/> says what the student uses (e.g. "concat + 3x3 conv").</summary>
    public static Remedy Retrain(string replacement) => new(RemedyKind.Retrain, "retrain", replacement);

    /// <summary>The word shown in reports: "fold", the rewrite's name, "retrain", or "none yet".</summary>
    public override string ToString() => Name;
}

/// <summary>
/// One way out for a kind of unsupported node. <see cref="Violation"/> narrows it to nodes breaking a given rule
/// (a constraint id, or its suffix such as <c>.supported</c> or <c>oneOf.group</c>); <see cref="CanHandle"/> is the
/// rule's own precondition, the same code that later performs it, so the audit never promises what the pass cannot do.
/// </summary>
public sealed record RemedyRegistration(string OpType, Remedy Remedy)
{
    /// <summary>The op type of a registration that judges nodes of any op (its <see cref="CanHandle"/> decides).</summary>
    public const string AnyOp = "*";

    public string Domain { get; init; } = "";
    /// <summary>Constraint id (or a suffix of it) the node must break; null for any reason.</summary>
    public string? Violation { get; init; }
    public Func<Node, Capability, bool>? CanHandle { get; init; }

    public bool Matches(Node node, Capability capability, IReadOnlyList<Violation> violations) =>
        (OpType == AnyOp || node.OpType == OpType)
        && (OpType == AnyOp || node.Domain is "" or "ai.onnx" ? Domain is "" or "ai.onnx" : node.Domain == Domain)
        && (Violation is null || violations.Any(v => v.ConstraintId == Violation || v.ConstraintId.EndsWith(Violation, StringComparison.Ordinal)))
        && (CanHandle is null || CanHandle(node, capability));
}

/// <summary>
/// Remedies the compiler has, filled by the passes that own them: the rewrite pass registers each rule, the
/// distillation pass registers its "retrain" replacements. Capabilities references neither; passes call
/// <see cref="Register"/> (or implement <see cref="IRemedySource"/>) and the CLI hands the filled registry to the audit.
/// Folding wins over exact rewrites, and exact rewrites over retraining; among equals the first registered wins.
/// </summary>
public sealed class RemedyRegistry
{
    private readonly List<RemedyRegistration> _entries = [];

    public IReadOnlyList<RemedyRegistration> Entries => _entries;

    public RemedyRegistry Register(RemedyRegistration registration)
    {
        _entries.Add(registration);
        return this;
    }

    public RemedyRegistry Register(string opType, Remedy remedy, string? violation = null, Func<Node, Capability, bool>? canHandle = null) =>
        Register(new RemedyRegistration(opType, remedy) { Violation = violation, CanHandle = canHandle });

    public RemedyRegistry Add(IRemedySource source)
    {
        source.RegisterRemedies(this);
        return this;
    }

    /// <summary>The best remedy for <paramref name="node"/> breaking <paramref name="violations"/> on <paramref name="capability"/>.</summary>
    public Remedy Find(Node node, Capability capability, IReadOnlyList<Violation> violations)
    {
        RemedyRegistration? best = null;
        foreach (var e in _entries)
        {
            if (!e.Matches(node, capability, violations)) continue;
            if (best is null || Rank(e.Remedy.Kind) > Rank(best.Remedy.Kind)) best = e;
        }
        return best?.Remedy ?? Remedy.NoneYet;
    }

    private static int Rank(RemedyKind kind) => kind switch
    {
        RemedyKind.Fold => 3,
        RemedyKind.Rewrite => 2,
        RemedyKind.Retrain => 1,
        _ => 0,
    };
}

/// <summary>A pass (or plugin) that owns remedies and registers them.</summary>
public interface IRemedySource
{
    void RegisterRemedies(RemedyRegistry registry);
}
