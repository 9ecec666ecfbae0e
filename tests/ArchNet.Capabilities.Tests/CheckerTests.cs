using ArchNet.IR;
using ArchNet.Testing;

namespace ArchNet.Capabilities.Tests;

public sealed class CheckerTests
{
    [Fact]
    public void OpAbsentFromTheFile_IsAViolationNamingTheChip()
    {
        var chip = Fixtures.Chip("""{ "Relu": {} }""");
        var b = new GraphBuilder();
        var y = b.Op("Sigmoid", b.Input("x", 1, 4));
        b.Output(y);
        b.Build();
        var v = Assert.Single(chip.Check(y.Producer!).Violations);
        Assert.Equal("op Sigmoid is not supported by test-chip", v.Message);
        Assert.Equal("Sigmoid.supported", v.ConstraintId);
    }

    [Fact]
    public void UnknownDomain_IsUnsupportedUnlessListed()
    {
        var node = new Node("FusedThing", [new Value("x", new TensorType(ElementType.Float, Shape.Of(4)))], [new Value("y")], domain: "com.vendor");
        Assert.False(Fixtures.Chip("""{ "*": {} }""").Check(node).IsSupported);
        Assert.True(Fixtures.Chip("""{ "com.vendor:FusedThing": {} }""").Check(node).IsSupported);
        Assert.True(Fixtures.Chip("""{ "com.vendor:*": {} }""").Check(node).IsSupported);
        Assert.Equal("op com.vendor:FusedThing is not supported by test-chip",
            Fixtures.Chip("""{ "Relu": {} }""").Check(node).Violations.Single().Message);
    }

    [Fact]
    public void ChipWideConstraints_ApplyToEveryOpExceptTheExempt()
    {
        var chip = Fixtures.Chip("""{ "Relu": {}, "Sigmoid": {} }""",
            "\n\"constraints\": [ { \"kind\": \"rank\", \"tensor\": \"inputs\", \"max\": 2, \"except\": [\"Sigmoid\"] } ],");
        var b = new GraphBuilder();
        var x = b.Input("x", 1, 2, 3);
        var r = b.Op("Relu", x);
        var s = b.Op("Sigmoid", x);
        b.Output(r, s);
        b.Build();
        Assert.Equal("chip.rank.inputs", Assert.Single(chip.Check(r.Producer!).Violations).ConstraintId);
        Assert.True(chip.Check(s.Producer!).IsSupported);
    }

    [Fact]
    public void AllViolations_AreListed_NotOnlyTheFirst()
    {
        var archnet = Fixtures.Catalog.Load("archnet");
        var (_, conv) = Fixtures.Conv(channels: 600, kernel: 5, pad: 2, size: 8);
        var ids = archnet.Check(conv).Violations.Select(v => v.ConstraintId).ToList();
        Assert.Equal(["Conv.oneOf.kernel_shape", "Conv.oneOf.pads", "Conv.dim.input[0].dim[1]"], ids);
    }

    [Fact]
    public void Archnet_Accepts3x3Stride2Pad1_AndRejectsDepthwise()
    {
        var archnet = Fixtures.Catalog.Load("archnet");
        Assert.True(archnet.Check(Fixtures.Conv(stride: 2).Conv).IsSupported);
        var v = Assert.Single(archnet.Check(Fixtures.Conv(group: 8).Conv).Violations);
        Assert.Equal("Conv.oneOf.group", v.ConstraintId);
        Assert.Equal("group 8", v.Actual);
    }
}
