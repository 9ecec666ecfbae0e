using ArchNet.IR;

namespace ArchNet.Passes;

/// <summary>One transformation of a model. Returns how many changes it made (0 means the model is untouched).</summary>
public interface IPass
{
    /// <summary>Short kebab-case name, used to ask for the IR after it (<see cref="PassManager.DumpAfterPasses"/>) and in reports.</summary>
    string Name { get; }

    /// <summary>True for a pass that only fills in types: a graph invalid after it, when no earlier pass changed
    /// anything, was invalid as given (shape inference only made it visible).</summary>
    bool OnlyInfersTypes => false;

    int Run(Model model, PassContext context);
}

/// <summary>What a pass may use besides the model: where to report, and the names it may allocate.</summary>
public sealed class PassContext(IDiagnostics diagnostics)
{
    public IDiagnostics Diagnostics { get; } = diagnostics;

    /// <summary>What each rewrite did, in order; the CLI prints it and the legalization report lists it.</summary>
    public List<RewriteRecord> Rewrites { get; } = [];
}

/// <summary>One applied rewrite: the rule and the node it matched at.</summary>
public sealed record RewriteRecord(string Pass, string Rule, string Node, string OpType);

/// <summary>What one pass did: its changes and how long it took.</summary>
public sealed record PassResult(string Pass, int Changes, TimeSpan Elapsed);

/// <summary>A pass made from a function, for small steps that need no class of their own.</summary>
public sealed class LambdaPass(string name, Func<Model, PassContext, int> run) : IPass
{
    public string Name { get; } = name;
    public int Run(Model model, PassContext context) => run(model, context);
}

/// <summary>
/// Runs passes in order, verifies the IR after each (a pass that breaks the graph is named at once),
/// and times and counts each one. <see cref="DumpAfter"/> receives the text dump after the named passes.
/// </summary>
public sealed class PassManager(IEnumerable<IPass> passes)
{
    public IReadOnlyList<IPass> Passes { get; } = [.. passes];

    /// <summary>Pass names after which to dump the IR ("all" dumps after every pass).</summary>
    public ISet<string> DumpAfterPasses { get; } = new HashSet<string>(StringComparer.Ordinal);

    /// <summary>Receives (pass name, TextDump) for every pass in <see cref="DumpAfterPasses"/>.</summary>
    public Action<string, string>? DumpAfter { get; set; }

    public IReadOnlyList<PassResult> Run(Model model, PassContext context)
    {
        var unknown = DumpAfterPasses.Where(n => n != "all" && Passes.All(p => p.Name != n)).ToList();
        if (unknown.Count > 0)
            throw new ArchNetException(
                $"no pass or stage is called '{unknown[0]}' to dump the IR after; they are: {string.Join(", ", Passes.Select(p => p.Name))}");
        var results = new List<PassResult>();
        foreach (var pass in Passes)
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var changes = pass.Run(model, context);
            clock.Stop();
            var asGiven = pass.OnlyInfersTypes && results.All(r => r.Changes == 0);
            Verifier.Verify(model, asGiven ? "its shapes were inferred (the model as given is malformed)" : $"pass '{pass.Name}'");
            results.Add(new PassResult(pass.Name, changes, clock.Elapsed));
            if (DumpAfter is not null && (DumpAfterPasses.Contains(pass.Name) || DumpAfterPasses.Contains("all")))
                DumpAfter(pass.Name, TextDump.Dump(model));
        }
        return results;
    }
}
