using ArchNet.Backends.Abstractions;
using ArchNet.Backends.Emulation;
using ArchNet.Backends.Plugins;
using ArchNet.IR;

namespace Acme.NpuBackend.Tests;

public sealed class AcmeNpuBackendTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("acme-npu-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string InstallPlugin() => SamplePlugin.Install(_root);

    private (byte[] Stream, IBackend Backend) CompileThroughPlugin(Model model, out BackendCatalog catalog)
    {
        catalog = BackendCatalog.Discover([], [InstallPlugin()], new CollectingDiagnostics(), null);
        var backend = catalog.Get("acme-npu");
        var output = Path.Combine(_root, "out");
        var artifacts = BackendRun.Emit(backend, model, "acme-npu", output, new CollectingDiagnostics());
        Assert.Equal(AcmeNpuBackend.ArtifactName, Assert.Single(artifacts).RelativePath);
        return (File.ReadAllBytes(Path.Combine(output, AcmeNpuBackend.ArtifactName)), backend);
    }

    [Theory]
    [InlineData(8, 8, "HalfAwayFromZero", "MultiplierShift", false)]
    [InlineData(4, 8, "HalfAwayFromZero", "MultiplierShift", false)]
    [InlineData(2, 4, "HalfAwayFromZero", "MultiplierShift", false)]
    [InlineData(8, 8, "HalfToEven", "FloatScale", true)]
    [InlineData(4, 4, "HalfUp", "MultiplierShift", true)]
    public void PluginLoadedFromAFolder_EmitsAStreamTheSimulatorRunsBitExactWithTheEmulator(
        int wbits, int abits, string rounding, string requant, bool signedActivations)
    {
        var model = TestNets.ResidualCnn(wbits, abits, rounding, requant, signedActivations);
        var (stream, _) = CompileThroughPlugin(model, out var catalog);
        using var _c = catalog;
        var simulator = new NpuSimulator(stream);
        var emulator = new Emulator(model, EmulatorMode.Integer);
        Assert.Empty(emulator.HostFloatNodes);

        var mismatches = 0;
        var distinct = new HashSet<int>();
        foreach (var item in TestNets.Inputs(model, 20, seed: 7))
        {
            var expected = emulator.Run(item).Outputs.Values.Single().Ints!;
            var actual = simulator.Run([item["image"].Floats!]).Single();
            mismatches += expected.Zip(actual).Count(p => p.First != p.Second);
            distinct.UnionWith(actual);
        }

        Assert.Equal(0, mismatches);
        Assert.True(distinct.Count > 5, "outputs should vary across inputs, or the comparison proves little");
    }

    [Fact]
    public void MemoryPlan_ReusesTheArena()
    {
        var model = TestNets.ResidualCnn(8, 8, "HalfAwayFromZero", "MultiplierShift");
        var (bytes, _) = CompileThroughPlugin(model, out var catalog);
        using var _c = catalog;
        var stream = CommandStream.Parse(bytes);

        var total = stream.Tensors.Sum(t => t.Count);
        Assert.True(stream.ArenaBytes < total / 2, $"arena {stream.ArenaBytes} B for {total} B of activations");
    }

    [Fact]
    public void Stream_RoundTripsThroughItsDocumentedLayout()
    {
        var model = TestNets.ResidualCnn(4, 8, "HalfAwayFromZero", "MultiplierShift");
        var (bytes, _) = CompileThroughPlugin(model, out var catalog);
        using var _c = catalog;

        var stream = CommandStream.Parse(bytes);

        Assert.Equal("ACMS"u8.ToArray(), bytes[..4]);
        Assert.Equal(bytes, stream.Serialize());
        Assert.Equal([Opcode.Input, Opcode.Conv, Opcode.Clamp, Opcode.MaxPool, Opcode.Conv, Opcode.Clamp, Opcode.Conv,
            Opcode.Add, Opcode.Clamp, Opcode.GlobalAveragePool, Opcode.Copy, Opcode.Dense, Opcode.Output], stream.Commands.Select(c => c.Opcode));
    }

    [Fact]
    public void OpOutsideTheNpuSet_IsRefusedByValidate_NamingTheNode()
    {
        var model = TestNets.ResidualCnn(8, 8, "HalfAwayFromZero", "MultiplierShift");
        var gap = model.Graph.Nodes.Single(n => n.OpType == "GlobalAveragePool");
        gap.OpType = "GlobalMaxPool";
        using var catalog = BackendCatalog.Discover([], [InstallPlugin()], new CollectingDiagnostics(), null);

        var e = Assert.Throws<ArchNetException>(() =>
            BackendRun.Emit(catalog.Get("acme-npu"), model, "acme-npu", Path.Combine(_root, "out"), new CollectingDiagnostics()));

        Assert.Contains("op GlobalMaxPool is not in the Acme NPU-1 operator set", e.Message);
        Assert.Contains(gap.Name, e.Message);
    }
}
