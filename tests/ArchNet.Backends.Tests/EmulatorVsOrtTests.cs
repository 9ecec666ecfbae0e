using ArchNet.IR;
using ArchNet.Passes.Quantization;
using Xunit.Abstractions;

namespace ArchNet.Backends.Tests;

/// <summary>
/// The golden model against ONNX Runtime on QDQ graphs of every supported op, at 8 bits. With power-of-two scales
/// every float product and sum ORT computes is exact, so ORT's reference (unfused) path must give the emulator's
/// integers exactly, including the many exact ties such scales produce (a rounding boundary test).
/// </summary>
public sealed class EmulatorVsOrtTests(ITestOutputHelper output)
{
    public static TheoryData<string> IntegerOps => [.. OpGraphs.Names.Where(n => n is not ("Softmax" or "Sigmoid" or "MatMulActivations" or "Mul"))];
    public static TheoryData<string> AllOps => [.. OpGraphs.Names];

    private static QuantizationTarget PowerOfTwo() => QuantizationTarget.Default() with
    {
        Weights = new IntegerFormat(8, true, true, PowerOfTwoScales: true),
        Activations = new IntegerFormat(8, false, false, PowerOfTwoScales: true),
    };

    [Theory]
    [MemberData(nameof(AllOps))]
    public void PowerOfTwoScales_EmulatorEqualsOrtReference_Exactly(string op)
    {
        var model = QuantizedOps.Quantize(op, PowerOfTwo(), out var data);
        foreach (var inputs in data)
            foreach (var (name, emu, ort) in QuantizedOps.Compare(model, inputs, optimize: false))
            {
                var diff = emu.Zip(ort).Count(p => p.First != p.Second);
                if (diff > 0)
                    Assert.Fail($"{op}/{name}: {diff} of {emu.Length} integers differ; first (emulator, ORT) = {emu.Zip(ort).First(p => p.First != p.Second)}");
            }
    }

    /// <summary>
    /// Any scales, ORT with all optimizations (QDQ groups fused into its integer kernels: QLinearConv, MatMulInteger,
    /// QLinearAdd, ...). Weights are uint8 with a zero point here: on AVX2 without VNNI, ORT's u8 x s8 kernels use a
    /// saturating 16-bit multiply-add (a known MLAS limitation), which no chip semantics should copy.
    /// </summary>
    [Theory]
    [MemberData(nameof(IntegerOps))]
    public void GeneralScales_EmulatorEqualsOrtFusedIntegerKernels(string op)
    {
        var target = QuantizationTarget.Default() with { Weights = new IntegerFormat(8, Signed: false, Symmetric: false, PowerOfTwoScales: false) };
        var model = QuantizedOps.Quantize(op, target, out var data);
        var total = 0;
        var differ = 0;
        var maxLsb = 0L;
        foreach (var inputs in data)
            foreach (var (_, emu, ort) in QuantizedOps.Compare(model, inputs, optimize: true))
            {
                total += emu.Length;
                differ += emu.Zip(ort).Count(p => p.First != p.Second);
                maxLsb = Math.Max(maxLsb, emu.Zip(ort).Max(p => Math.Abs(p.First - p.Second)));
            }
        output.WriteLine($"{op}: {differ} of {total} differ, max {maxLsb} LSB");
        Assert.Equal(0, differ);
    }
}
