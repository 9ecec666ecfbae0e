using ArchNet.IR;
using ArchNet.Testing;
using Attribute = ArchNet.IR.Attribute;

namespace ArchNet.Capabilities.Tests;

/// <summary>Small graphs and capability texts shared by the tests.</summary>
internal static class Fixtures
{
    /// <summary>A model with one Conv: input 1 x channels x size x size, weight out x channels/group x k x k.</summary>
    public static (Model Model, Node Conv) Conv(long channels = 8, long kernel = 3, long stride = 1, long pad = 1, long group = 1,
        long outChannels = 8, long size = 16, long dilation = 1, bool constantWeight = true)
    {
        var b = new GraphBuilder();
        var x = b.Input("x", 1, channels, size, size);
        long[] wDims = [outChannels, channels / group, kernel, kernel];
        var w = constantWeight ? b.Random(wDims) : b.Input("w", wDims);
        var y = b.Op("Conv", [x, w],
            Attribute.Ints("kernel_shape", kernel, kernel), Attribute.Ints("strides", stride, stride),
            Attribute.Ints("pads", pad, pad, pad, pad), Attribute.Int("group", group), Attribute.Ints("dilations", dilation, dilation));
        b.Output(y);
        var model = b.Build();
        return (model, y.Producer!);
    }

    /// <summary>Minimal valid capability text with the given ops JSON (and optional extra top-level members).</summary>
    public static string CapabilityJson(string ops, string extra = "", string weightBits = "[8]", string activationBits = "[8]") => $$"""
        {
          "name": "test-chip",
          "vendor": "Test",
          "version": "1",
          "source": "unit test",
          "numerics": {
            "weights": { "bits": {{weightBits}}, "signedness": ["signed"], "granularity": ["per-tensor"], "symmetry": ["symmetric"] },
            "activations": { "bits": {{activationBits}}, "signedness": ["signed", "unsigned"], "granularity": ["per-tensor"], "symmetry": ["asymmetric"] },
            "accumulatorBits": 32,
            "rounding": ["half-away-from-zero"],
            "requantization": ["multiplier-shift"]
          },{{extra}}
          "ops": {{ops}}
        }
        """;

    public static Capability Chip(string ops, string extra = "") => CapabilityLoader.LoadText(CapabilityJson(ops, extra), "test-chip.json");

    /// <summary>The repo's targets/ folder (the shipped capability files).</summary>
    public static string TargetsDir => Path.Combine(TestData.RepoRoot, "targets");

    public static TargetCatalog Catalog => new(TargetsDir);
}
