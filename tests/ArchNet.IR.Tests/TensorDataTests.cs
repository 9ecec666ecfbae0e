using ArchNet.IR;

namespace ArchNet.IR.Tests;

public sealed class TensorDataTests
{
    [Fact]
    public void Int4_UnpacksLowNibbleFirst_WithSign()
    {
        // Elements 7, -8, 1 packed as ONNX does: 0x87 (low nibble 7, high nibble -8), 0x01.
        var t = new TensorData(ElementType.Int4, [3], new byte[] { 0x87, 0x01 });
        Assert.Equal([7.0, -8.0, 1.0], t.ToDoubles());
    }

    [Fact]
    public void OwnFloats_ViewsTheGivenArray_WithoutCopying()
    {
        float[] values = [1.5f, -2, 3];
        var t = TensorData.OwnFloats([3], values);

        Assert.True(System.Runtime.CompilerServices.Unsafe.AreSame(ref values[0],
            ref System.Runtime.InteropServices.MemoryMarshal.GetReference(t.Span<float>())));
        Assert.Equal(values, t.ToFloats());
        using var pinned = t.Raw.Pin(); // protobuf or ORT may pin it
    }

    [Fact]
    public void RawSize_IsChecked()
    {
        var e = Assert.Throws<ArchNetException>(() => new TensorData(ElementType.Float, [2, 2], new byte[12]));
        Assert.Contains("needs 16 bytes, has 12", e.Message);
    }

    [Fact]
    public void Raw_IsNotCopied()
    {
        var buffer = new byte[8];
        var t = new TensorData(ElementType.Float, [2], buffer);
        buffer[3] = 0x3f; buffer[2] = 0x80; // 1.0f little-endian in the first element
        Assert.Equal(1f, t.Span<float>()[0]);
    }

    [Fact]
    public void TextDump_ShowsTypesAttributesAndQuantization()
    {
        var g = new Graph("g");
        var x = new Value("x", new TensorType(ElementType.Float, Shape.Of(1, 4)));
        g.Inputs.Add(x);
        var y = new Value("y", new TensorType(ElementType.Float, Shape.Of(1, 4))) { Quant = QuantParams.PerTensor(8, false, 0.5f, 3) };
        g.Add(new Node("LeakyRelu", [x], [y], [Attribute.Float("alpha", 0.25f)], "act"));
        g.Outputs.Add(y);
        var dump = TextDump.Dump(g);
        Assert.Contains("%y: float32[1,4] <u8 scale=0.5 zp=3> = LeakyRelu(%x) {alpha=0.25}  # act", dump);
    }
}
