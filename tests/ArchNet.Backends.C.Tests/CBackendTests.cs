using ArchNet.Backends.Emulation;
using ArchNet.IR;
using N = ArchNet.Backends.C.Tests.QuantizedNets.Numerics;

namespace ArchNet.Backends.C.Tests;

public sealed class CBackendTests
{
    public static TheoryData<string> AllNumerics => new()
    {
        "8 8 HalfAwayFromZero MultiplierShift false",
        "4 4 HalfAwayFromZero MultiplierShift false",
        "2 4 HalfAwayFromZero MultiplierShift false",
        "8 8 HalfToEven FloatScale false",
        "4 8 HalfUp MultiplierShift true",
        "8 8 HalfAwayFromZero FloatScale true",
        "4 4 HalfAwayFromZero MultiplierShift true true",
        "8 8 HalfToEven FloatScale true true",
    };

    private static N Parse(string s)
    {
        var p = s.Split(' ');
        return new N(int.Parse(p[0]), int.Parse(p[1]), p[2], p[3], bool.Parse(p[4]), p.Length > 5 && bool.Parse(p[5]));
    }

    /// <summary>Emits, compiles with gcc, runs 20 random items; every output integer must equal the emulator's.</summary>
    private static void AssertBitExact(Model model, int items = 20)
    {
        using var c = new CHarness();
        c.Emit(model);
        var exe = c.Compile();
        var emulator = new Emulator(model, EmulatorMode.Integer);
        Assert.Empty(emulator.HostFloatNodes);
        var inputs = QuantizedNets.Inputs(model, items, seed: 11);
        for (var o = 0; o < model.Graph.Outputs.Count; o++)
        {
            var actual = c.RunQuantized(exe, [.. inputs.Select(i => i.Values.Single().Floats!)], o);
            var mismatches = 0;
            var distinct = new HashSet<int>();
            for (var i = 0; i < items; i++)
            {
                var expected = emulator.Run(inputs[i]).Outputs[model.Graph.Outputs[o].Name].Ints!;
                Assert.Equal(expected.Length, actual[i].Length);
                mismatches += expected.Zip(actual[i]).Count(p => p.First != p.Second);
                distinct.UnionWith(actual[i]);
            }
            Assert.True(mismatches == 0, $"output {o}: {mismatches} integers differ from the emulator");
            Assert.True(distinct.Count > 3, $"output {o} barely varies ({distinct.Count} values): the comparison would prove little");
        }
    }

    [Theory]
    [MemberData(nameof(AllNumerics))]
    public void ResidualCnn_CompiledWithGcc_EqualsTheEmulatorBitForBit(string numerics) =>
        AssertBitExact(QuantizedNets.ResidualCnn(Parse(numerics)));

    [Theory]
    [MemberData(nameof(AllNumerics))]
    public void Decoder_CompiledWithGcc_EqualsTheEmulatorBitForBit(string numerics) =>
        AssertBitExact(QuantizedNets.Decoder(Parse(numerics)));

    [Theory]
    [MemberData(nameof(AllNumerics))]
    public void EveryKernel_CompiledWithGcc_EqualsTheEmulatorBitForBit(string numerics) =>
        AssertBitExact(QuantizedNets.EveryKernel(Parse(numerics)));

    /// <summary>
    /// A multiplier-shift Add with one input at the output's scale: its multiplier is exactly 1 (shift 0) and the other's
    /// shift is 32, so the shifts are 32 apart, which the emulator and this backend both used to refuse although the
    /// products stay far inside 64 bits. gcc's program equals the emulator bit for bit.
    /// </summary>
    [Fact]
    public void AddWithShiftsFarApart_CompiledWithGcc_EqualsTheEmulatorBitForBit()
    {
        var b = new ArchNet.Testing.GraphBuilder();
        var x = b.Input("x", 1, 64);
        var coarse = b.Op("Relu", x);
        var fine = b.Op("Relu", x);
        var sum = b.Op("Add", coarse, fine);
        b.Output(sum);
        var model = b.Build();
        x.Quant = new QuantParams(8, true, [0.02f], [0]);
        (coarse.Quant, fine.Quant, sum.Quant) = (new QuantParams(8, false, [0.01f], [0]), new QuantParams(8, false, [0.004f], [0]),
            new QuantParams(8, false, [0.01f], [0]));
        new QuantSemantics(RoundingMode.HalfAwayFromZero, RequantMode.MultiplierShift).WriteTo(model);
        AssertBitExact(model);
    }

    [Fact]
    public void Output_IsOneCFileOneHeader_WithWeightsAsConstArrays_AndAReusedArena()
    {
        using var c = new CHarness();

        var artifacts = c.Emit(QuantizedNets.ResidualCnn(new N(4, 8, "HalfAwayFromZero", "MultiplierShift")));

        Assert.Equal(["model.c", "model.h", "harness.c", "CMakeLists.txt"], artifacts.Select(a => a.RelativePath));
        var source = File.ReadAllText(Path.Combine(c.Directory, "model.c"));
        Assert.Contains("static const uint8_t an_node0_w[]", source); // 4-bit weights, packed
        Assert.DoesNotContain("#include <stdlib.h>", source);          // no allocation, no libc beyond math.h
        var arena = int.Parse(System.Text.RegularExpressions.Regex.Match(source, @"Arena: (\d+) bytes for \d+ activation buffers \((\d+) bytes").Groups[1].Value);
        var total = int.Parse(System.Text.RegularExpressions.Regex.Match(source, @"activation buffers \((\d+) bytes").Groups[1].Value);
        Assert.True(arena < total / 2, $"arena {arena} B for {total} B of activations");
    }

    [Fact]
    public void SameGraph_SameBytes()
    {
        using var a = new CHarness();
        using var b = new CHarness();
        var n = new N(8, 8, "HalfAwayFromZero", "MultiplierShift");

        a.Emit(QuantizedNets.EveryKernel(n));
        b.Emit(QuantizedNets.EveryKernel(n));

        Assert.Equal(File.ReadAllBytes(Path.Combine(a.Directory, "model.c")), File.ReadAllBytes(Path.Combine(b.Directory, "model.c")));
    }

    [Fact]
    public void NodeWithoutIntegerKernel_IsRefusedByValidate_NamingIt()
    {
        var model = QuantizedNets.ResidualCnn(new N(8, 8, "HalfAwayFromZero", "MultiplierShift"));
        var gap = model.Graph.Nodes.Single(n => n.OpType == "GlobalAveragePool");
        gap.OpType = "GlobalMaxPool";
        using var c = new CHarness();

        var e = Assert.Throws<ArchNetException>(() => c.Emit(model));

        Assert.Contains("op GlobalMaxPool has no integer kernel in the c backend", e.Message);
        Assert.Contains(gap.Name, e.Message);
    }

    [Fact]
    public void CMakeBuild_ProducesAWorkingHarness()
    {
        using var c = new CHarness();
        var model = QuantizedNets.ResidualCnn(new N(8, 8, "HalfAwayFromZero", "MultiplierShift"));
        c.Emit(model);

        c.Run("cmake", "-S . -B build -DCMAKE_BUILD_TYPE=Release");
        c.Run("cmake", "--build build");

        // Built is not working: the CMake-built harness runs a batch and gives the emulator's integers exactly.
        var exe = Path.Combine(c.Directory, "build", "model_harness");
        var emulator = new Emulator(model, EmulatorMode.Integer);
        var inputs = QuantizedNets.Inputs(model, 4, seed: 11);
        var actual = c.RunQuantized(exe, [.. inputs.Select(i => i.Values.Single().Floats!)]);
        Assert.Equal(4, actual.Length);
        for (var i = 0; i < 4; i++)
            Assert.Equal(emulator.Run(inputs[i]).Outputs[model.Graph.Outputs[0].Name].Ints!.Select(v => (int)v), actual[i]);
    }
}
