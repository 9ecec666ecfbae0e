using ArchNet.IR;

namespace ArchNet.Capabilities.Tests;

/// <summary><c>--target a,b</c>: ops present in all, ranges and sets intersected, common bit widths, named "a+b".</summary>
public sealed class IntersectionTests
{
    private static Capability Chip(string name, string ops, string weightBits, string activationBits, string extra = "") =>
        CapabilityLoader.LoadText(Fixtures.CapabilityJson(ops, extra, weightBits, activationBits).Replace("\"test-chip\"", $"\"{name}\""), name + ".json");

    private static readonly Capability A = Chip("a",
        """
        { "Conv": { "constraints": [
            { "kind": "range", "attribute": "strides", "min": 1, "max": 3 },
            { "kind": "oneOf", "attribute": "kernel_shape", "values": [[1, 1], [3, 3], [5, 5]] },
            { "kind": "dim", "dim": "input[0].dim[1]", "max": 1024 } ] },
          "Relu": {}, "Add": {} }
        """, "[8, 4]", "[8, 16]", "\n\"limits\": { \"maxTensorBytes\": 4096 },");

    private static readonly Capability B = Chip("b",
        """
        { "Conv": { "constraints": [
            { "kind": "range", "attribute": "strides", "min": 2, "max": 4 },
            { "kind": "oneOf", "attribute": "kernel_shape", "values": [[3, 3], [7, 7]] },
            { "kind": "dim", "dim": "input[0].dim[1]", "max": 512 },
            { "kind": "constant", "input": 1 } ] },
          "Relu": {}, "Sigmoid": {} }
        """, "[8, 2]", "[8]", "\n\"limits\": { \"maxTensorBytes\": 100000 },");

    private static readonly Capability AB = CapabilityIntersection.Of([A, B]);

    [Fact]
    public void Name_JoinsTheTargets() => Assert.Equal("a+b", AB.Name);

    [Fact]
    public void Ops_AreThosePresentInAll() =>
        Assert.Equal(["Conv", "Relu"], AB.Ops.Select(o => o.OpType));

    [Fact]
    public void Ranges_AreIntersected()
    {
        var range = AB.Find("", "Conv")!.Constraints.OfType<AttributeRangeConstraint>().Single();
        Assert.Equal(new Interval(2, 3), range.Range);
        var dim = AB.Find("", "Conv")!.Constraints.OfType<DimensionRangeConstraint>().Single();
        Assert.Equal(512, dim.Range.Max);
    }

    [Fact]
    public void Sets_AreIntersected_AndOtherRulesKept()
    {
        var conv = AB.Find("", "Conv")!;
        var oneOf = conv.Constraints.OfType<OneOfConstraint>().Single();
        Assert.Equal("{[3,3]}", "{" + string.Join(", ", oneOf.Values) + "}");
        Assert.Single(conv.Constraints.OfType<ConstantInputConstraint>());
    }

    [Fact]
    public void BitWidths_AreTheCommonOnes_AndTheSmallerMemoryLimitWins()
    {
        Assert.Equal([8], AB.Numerics.Weights.Bits.Values.ToArray());
        Assert.Equal([8], AB.Numerics.Activations.Bits.Values.ToArray());
        Assert.Equal(4096, AB.ChipConstraints.OfType<TensorSizeConstraint>().Single().MaxBytes);
    }

    [Fact]
    public void Checking_AgainstTheIntersection_RequiresBothChips()
    {
        // stride 1: fine on a, not on b. stride 2 with 3x3: fine on both.
        Assert.True(A.Check(Fixtures.Conv(stride: 1, channels: 4, size: 8).Conv).IsSupported);
        Assert.False(AB.Check(Fixtures.Conv(stride: 1, channels: 4, size: 8).Conv).IsSupported);
        Assert.True(AB.Check(Fixtures.Conv(stride: 2, channels: 4, size: 8).Conv).IsSupported);
    }

    [Fact]
    public void Wildcard_IntersectsToTheOtherChipsOps()
    {
        var reference = Fixtures.Catalog.Load("reference-cpu");
        var archnet = Fixtures.Catalog.Load("archnet");
        var both = CapabilityIntersection.Of([reference, archnet]);
        Assert.Equal(archnet.Ops.Select(o => o.Key), both.Ops.Select(o => o.Key));
        Assert.Equal(archnet.Numerics.Weights.Bits.Values.ToArray(), both.Numerics.Weights.Bits.Values.ToArray());
        Assert.Empty(both.Numerics.FloatTypes);
        Assert.False(both.Check(Fixtures.Conv(group: 8).Conv).IsSupported);
    }

    [Fact]
    public void DisjointSets_GiveARuleNothingSatisfies()
    {
        var k210 = Fixtures.Catalog.Load("kendryte-k210");
        var archnet = Fixtures.Catalog.Load("archnet");
        var both = CapabilityIntersection.Of([k210, archnet]);
        // Signedness of activations: K210 unsigned, archnet unsigned -> unsigned; weights unsigned vs signed -> none.
        Assert.Empty(both.Numerics.Weights.Signedness);
        Assert.True(both.Check(Fixtures.Conv(size: 16).Conv).IsSupported);
    }
}
