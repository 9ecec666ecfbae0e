using ArchNet.IR;
using ArchNet.Testing;
using Attribute = ArchNet.IR.Attribute;

namespace ArchNet.Capabilities.Tests;

/// <summary>Each constraint kind at its boundary: the value at the limit passes, one past fails, and the message names
/// the actual value and the limit (Vela's habit).</summary>
public sealed class ConstraintBoundaryTests
{
    private static Violation Single(Capability chip, Node node)
    {
        var result = chip.Check(node);
        Assert.False(result.IsSupported, "expected a violation");
        return Assert.Single(result.Violations);
    }

    [Fact]
    public void AttributeRange_StrideAtMaxPasses_OnePastFails()
    {
        var chip = Fixtures.Chip("""{ "Conv": { "constraints": [ { "kind": "range", "attribute": "strides", "min": 1, "max": 3 } ] } }""");
        Assert.True(chip.Check(Fixtures.Conv(stride: 3).Conv).IsSupported);
        var v = Single(chip, Fixtures.Conv(stride: 4).Conv);
        Assert.Equal("Conv.range.strides", v.ConstraintId);
        Assert.Contains("[4,4]", v.Actual);
        Assert.Equal("in [1, 3]", v.Limit);
        Assert.Contains("strides must be in [1, 3]", v.Message);
    }

    [Fact]
    public void OneOf_KernelInSetPasses_OtherFails()
    {
        var chip = Fixtures.Chip("""{ "Conv": { "constraints": [ { "kind": "oneOf", "attribute": "kernel_shape", "values": [[1, 1], [3, 3]] } ] } }""");
        Assert.True(chip.Check(Fixtures.Conv(kernel: 3).Conv).IsSupported);
        var v = Single(chip, Fixtures.Conv(kernel: 5, pad: 2).Conv);
        Assert.Equal("kernel_shape [5,5]", v.Actual);
        Assert.Equal("{[1,1], [3,3]}", v.Limit);
    }

    [Fact]
    public void OneOf_EachElement_GroupOfOnePasses_DepthwiseFails()
    {
        var chip = Fixtures.Chip("""{ "Conv": { "constraints": [ { "kind": "oneOf", "attribute": "group", "values": [1] } ] } }""");
        Assert.True(chip.Check(Fixtures.Conv(group: 1).Conv).IsSupported);
        var v = Single(chip, Fixtures.Conv(group: 8).Conv);
        Assert.Equal("group 8", v.Actual);
        Assert.Equal("{1}", v.Limit);
    }

    [Fact]
    public void DimensionRange_512InputChannelsPass_513Fail()
    {
        var chip = Fixtures.Chip("""{ "Conv": { "constraints": [ { "kind": "dim", "dim": "input[0].dim[1]", "max": 512, "message": "at most 512 input channels" } ] } }""");
        Assert.True(chip.Check(Fixtures.Conv(channels: 512, size: 4).Conv).IsSupported);
        var v = Single(chip, Fixtures.Conv(channels: 513, size: 4).Conv);
        Assert.Equal("at most 512 input channels", v.Message);
        Assert.Equal("input[0].dim[1] 513", v.Actual);
        Assert.Equal("<= 512", v.Limit);
        Assert.Contains("found input[0].dim[1] 513, limit <= 512", v.ToString());
    }

    [Fact]
    public void Rank_AtMaxPasses_OnePastFails()
    {
        var chip = Fixtures.Chip("""{ "Relu": { "constraints": [ { "kind": "rank", "tensor": "input[0]", "max": 4 } ] } }""");
        Node Relu(int rank)
        {
            var b = new GraphBuilder();
            var x = b.Input("x", [.. Enumerable.Repeat(2L, rank)]);
            var y = b.Op("Relu", x);
            b.Output(y);
            b.Build();
            return y.Producer!;
        }
        Assert.True(chip.Check(Relu(4)).IsSupported);
        var v = Single(chip, Relu(5));
        Assert.Equal("input[0] rank 5", v.Actual);
        Assert.Equal("<= 4", v.Limit);
    }

    [Fact]
    public void Relation_PadAtKernelMinusOnePasses_OnePastFails()
    {
        var chip = Fixtures.Chip("""{ "Conv": { "constraints": [ { "kind": "relation", "expr": "pads <= kernel_shape - 1" } ] } }""");
        Assert.True(chip.Check(Fixtures.Conv(kernel: 3, pad: 2).Conv).IsSupported);
        var v = Single(chip, Fixtures.Conv(kernel: 3, pad: 3, size: 16).Conv);
        Assert.Equal("Conv.relation.pads<=kernel_shape-1", v.ConstraintId);
        Assert.Equal("pads [3,3,3,3]", v.Actual);
        Assert.Equal("<= [2,2,2,2] (kernel_shape - 1)", v.Limit);
    }

    [Fact]
    public void Relation_StrideAtKernelPasses_OnePastFails()
    {
        var chip = Fixtures.Chip("""{ "Conv": { "constraints": [ { "kind": "relation", "expr": "strides <= kernel_shape" } ] } }""");
        Assert.True(chip.Check(Fixtures.Conv(kernel: 3, stride: 3, pad: 0).Conv).IsSupported);
        var v = Single(chip, Fixtures.Conv(kernel: 3, stride: 4, pad: 0).Conv);
        Assert.Equal("strides [4,4]", v.Actual);
        Assert.StartsWith("<= [3,3]", v.Limit);
    }

    [Fact]
    public void ElementTypes_AllowedPasses_OtherFails_FloatPassesWhenQuantizable()
    {
        var chip = Fixtures.Chip("""{ "Gather": { "constraints": [ { "kind": "types", "tensor": "input[1]", "allowed": ["int32"] } ] } }""");
        Node Gather(ElementType indexType)
        {
            var b = new GraphBuilder();
            var x = b.Input("x", 4, 3);
            var i = b.Input("i", indexType, 2);
            var y = b.Op("Gather", x, i);
            b.Output(y);
            b.Build();
            return y.Producer!;
        }
        Assert.True(chip.Check(Gather(ElementType.Int32)).IsSupported);
        var v = Single(chip, Gather(ElementType.Int64));
        Assert.Equal("input[1] int64", v.Actual);
        Assert.Equal("{int32}", v.Limit);

        // A float activation will be quantized: it passes when the op accepts an integer type the chip produces.
        var relu = Fixtures.Chip("""{ "Relu": { "constraints": [ { "kind": "types", "tensor": "input[0]", "allowed": ["int8"] } ] } }""");
        var b2 = new GraphBuilder();
        var r = b2.Op("Relu", b2.Input("x", 1, 4));
        b2.Output(r);
        b2.Build();
        Assert.True(relu.Check(r.Producer!).IsSupported);
        r.Producer!.Inputs[0]!.Quant = IR.QuantParams.PerTensor(16, true, 0.1f);
        var q = Single(relu, r.Producer!);
        Assert.Equal("input[0] int16 (quantized)", q.Actual);
    }

    [Fact]
    public void ConstantInput_ConstantWeightPasses_RuntimeWeightFails()
    {
        var chip = Fixtures.Chip("""{ "Conv": { "constraints": [ { "kind": "constant", "input": 1 } ] } }""");
        Assert.True(chip.Check(Fixtures.Conv(constantWeight: true).Conv).IsSupported);
        var v = Single(chip, Fixtures.Conv(constantWeight: false).Conv);
        Assert.Contains("input[1] 'w' computed at run time", v.Actual);
        Assert.Equal("a constant", v.Limit);
        Assert.Equal("input[1] (weights) must be constant", v.Message);
    }

    [Fact]
    public void TensorSize_AtLimitPasses_OneBytePastFails()
    {
        // Float activations count at the chip's narrowest activation width (8 bits): 1x8x16x16 = 2048 bytes.
        var atLimit = Fixtures.Chip("""{ "Conv": {} }""", "\n\"limits\": { \"maxTensorBytes\": 2048 },");
        var below = Fixtures.Chip("""{ "Conv": {} }""", "\n\"limits\": { \"maxTensorBytes\": 2047 },");
        var conv = Fixtures.Conv(channels: 8, outChannels: 8, size: 16).Conv;
        Assert.True(atLimit.Check(conv).IsSupported);
        var v = Single(below, conv);
        Assert.Equal("chip.maxTensorBytes", v.ConstraintId);
        Assert.Equal("input[0] 2,048 bytes", v.Actual);
        Assert.Equal("2,047 bytes", v.Limit);
    }
}
