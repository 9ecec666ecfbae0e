using ArchNet.IR;
using ArchNet.Testing;
using Attribute = ArchNet.IR.Attribute;

namespace ArchNet.Capabilities.Tests;

/// <summary>Vela's CONV_2D stride limit on arm-ethos-u55, at its boundary: stride 3 passes, stride 4 is refused with
/// Vela's own message (the tflite backend's artifacts go to Vela, so the audit refuses what Vela would).</summary>
public sealed class EthosU55StrideTests
{
    private static Node Conv3x3(long stride)
    {
        var b = new GraphBuilder();
        var y = b.Op("Conv", [b.Input("x", 1, 8, 16, 16), b.Random([8, 8, 3, 3], -0.1f, 0.1f)],
            Attribute.Ints("kernel_shape", 3, 3), Attribute.Ints("strides", stride, stride));
        b.Output(y);
        b.Build();
        return y.Producer!;
    }

    [Fact]
    public void Conv3x3Stride4_IsRefused_WithVelasStrideLimit()
    {
        var u55 = Fixtures.Catalog.Load("arm-ethos-u55");
        var v = Assert.Single(u55.Check(Conv3x3(4)).Violations, x => x.Message.Contains("Stride"));
        Assert.Contains("Stride values for both width and height must be between 1 and 3", v.Message);
        Assert.DoesNotContain(u55.Check(Conv3x3(3)).Violations, x => x.Message.Contains("Stride"));
    }
}
