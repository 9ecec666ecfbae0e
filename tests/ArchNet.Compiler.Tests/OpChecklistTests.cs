using ArchNet.Capabilities;
using ArchNet.Testing;

namespace ArchNet.Compiler.Tests;

/// <summary>docs/ops.md is the registries' own account of each op, and shipped targets allow no new op the compile cannot
/// handle.</summary>
public sealed class OpChecklistTests
{
    private static IReadOnlyList<Capability> ShippedTargets()
    {
        var catalog = new TargetCatalog(Path.Combine(TestData.RepoRoot, "targets"));
        return [.. catalog.Names.Select(catalog.Load)];
    }

    [Fact]
    public void CommittedOpsDocument_EqualsTheGeneratorsOutput()
    {
        var path = Path.Combine(TestData.RepoRoot, "docs", "ops.md");
        Assert.True(File.Exists(path), $"missing {path}: run archnetc ops --doc docs/ops.md");
        Assert.True(OpChecklist.Markdown(ShippedTargets()) == File.ReadAllText(path), $"{path} is stale: run archnetc ops --doc docs/ops.md");
    }

    /// <summary>The registries as the compile reads them: anchors that any of them losing an entry breaks.</summary>
    [Theory]
    [InlineData("Conv", true, false, true, true, true, true)]
    [InlineData("Shape", true, true, true, false, true, false)]
    [InlineData("Softmax", true, false, true, true, true, false)]
    [InlineData("LayerNormalization", true, false, true, false, true, false)]
    public void Rows_SayWhatEachRegistryHas(string op, bool shapes, bool folding, bool floatEmulator, bool integerEmulator, bool torch, bool c)
    {
        var row = OpChecklist.Rows(ShippedTargets()).Single(r => r.Op == op);
        Assert.Equal((shapes, folding, floatEmulator, integerEmulator, torch, c),
            (row.ShapeInference, row.ConstantFolding, row.FloatEmulator, row.IntegerEmulator, row.TorchLowering, row.CBackend));
    }

    /// <summary>Ops a shipped capability file allows by name although a compile using them cannot get past legalization
    /// (no shape inference or no float kernel in the emulator) as of this commit. The list may only shrink: a kernel
    /// added removes its op here; a capability file allowing another such op fails this test.</summary>
    private static readonly string[] KnownGaps =
    [
        "And", "ArgMax", "ArgMin", "Cos", "DequantizeLinear", "Elu", "Equal", "Expand", "EyeLike", "Floor", "GRU", "GatherElements",
        "Greater", "GreaterOrEqual", "If", "InstanceNormalization", "LRN", "LSTM", "Less", "LessOrEqual", "Log", "LogSoftmax",
        "LpNormalization", "MaxRoiPool", "MaxUnpool", "MeanVarianceNormalization", "Mish", "Mod", "QuantizeLinear", "ReverseSequence",
        "RoiAlign", "ScatterND", "Sin", "Size", "Softplus", "Tile", "Where",
    ];

    [Fact]
    public void ShippedTargets_AllowNoOpTheCompileLacksAStageFor_BeyondTheKnownGaps()
    {
        var gaps = OpChecklist.Rows(ShippedTargets()).Where(r => r.Targets.Count > 0 && r.MissingForCompile.Count > 0)
            .Select(r => r.Op).ToList();
        var added = gaps.Except(KnownGaps).Select(op => $"{op} ({string.Join(", ", OpChecklist.Rows(ShippedTargets()).Single(r => r.Op == op).MissingForCompile)})").ToList();
        Assert.True(added.Count == 0, $"a shipped target allows ops the compile cannot handle: {string.Join("; ", added)}");
        var closed = KnownGaps.Except(gaps).ToList();
        Assert.True(closed.Count == 0, $"no longer gaps (take them off KnownGaps): {string.Join(", ", closed)}");
    }
}
