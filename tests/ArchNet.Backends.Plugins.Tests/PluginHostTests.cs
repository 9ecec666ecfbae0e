using ArchNet.Backends.Abstractions;
using ArchNet.IR;

namespace ArchNet.Backends.Plugins.Tests;

public sealed class PluginHostTests
{
    private static BackendCatalog Catalog(CollectingDiagnostics diagnostics, params string[] plugins) =>
        BackendCatalog.Discover([new CountingBackend()], plugins.Select(TinyModels.Plugin), diagnostics, pluginPathVariable: null);

    [Fact]
    public void GoodPlugin_LoadsFromItsFolder_AndEmitsThroughTheHost()
    {
        var diagnostics = new CollectingDiagnostics();
        using var catalog = Catalog(diagnostics, "Good.Backend");
        using var dir = new TempDir();

        var artifacts = BackendRun.Emit(catalog.Get("good"), TinyModels.QuantizedConv(), "archnet", dir.Path, diagnostics);

        Assert.Equal("nodes.txt", Assert.Single(artifacts).RelativePath);
        Assert.Equal(["Conv", "Relu"], File.ReadAllLines(Path.Combine(dir.Path, "nodes.txt")));
        Assert.Empty(Directory.GetDirectories(dir.Path)); // the staging folder is gone
        Assert.Empty(diagnostics.Items);
    }

    [Fact]
    public void HostModelBackend_GetsAViewWithoutConstantData_OthersGetTheWeights()
    {
        using var dir = new TempDir();
        var hostModel = new HostModelProbeBackend();
        var ordinary = new WeightProbeBackend();

        BackendRun.Emit(new GuardedBackend(hostModel, "built-in backend"), TinyModels.QuantizedConv(), "archnet", dir.Path, new CollectingDiagnostics());
        BackendRun.Emit(ordinary, TinyModels.QuantizedConv(), "archnet", dir.Path, new CollectingDiagnostics());

        Assert.Equal((false, false), hostModel.WeightData);
        Assert.Equal((true, true), ordinary.WeightData);
    }

    [Fact]
    public void Plugin_LivesInItsOwnLoadContext_SharingOnlyTheContract()
    {
        using var catalog = Catalog(new CollectingDiagnostics(), "Good.Backend");
        var plugin = ((GuardedBackend)catalog.Get("good")).Inner;

        var context = System.Runtime.Loader.AssemblyLoadContext.GetLoadContext(plugin.GetType().Assembly);
        Assert.NotSame(System.Runtime.Loader.AssemblyLoadContext.Default, context);
        Assert.IsAssignableFrom<IBackend>(plugin); // the host's IBackend: the contract assembly is shared
    }

    [Fact]
    public void PluginPathVariable_ListsFoldersSeparatedByThePathSeparator()
    {
        var variable = string.Join(Path.PathSeparator, TinyModels.Plugin("Good.Backend"), TinyModels.Plugin("Empty.Backend"));
        using var catalog = BackendCatalog.Discover([new CountingBackend()], [], new CollectingDiagnostics(), variable);

        Assert.Equal(["count", "good", "empty"], catalog.Entries.Select(e => e.Name));
        Assert.Equal(BackendOrigin.Plugin, catalog.Entries[1].Origin);
    }

    [Fact]
    public void FolderOfPlugins_FindsEveryPluginOneLevelDown()
    {
        var diagnostics = new CollectingDiagnostics();
        using var catalog = BackendCatalog.Discover([], [TinyModels.PluginRoot], diagnostics, null);

        Assert.Equal(["empty", "good", "missing-dependency", "old-contract", "throws"], catalog.Entries.Select(e => e.Name).Order());
    }

    [Fact]
    public void ThrowingEmit_FailsThatCompile_NamingThePlugin_AndBuiltInsStillWork()
    {
        var diagnostics = new CollectingDiagnostics();
        using var catalog = Catalog(diagnostics, "Throwing.Backend");
        using var dir = new TempDir();
        var model = TinyModels.QuantizedConv();

        var e = Assert.Throws<ArchNetException>(() => BackendRun.Emit(catalog.Get("throws"), model, "archnet", dir.Path, diagnostics));

        Assert.Equal(ExitCodes.PluginFailed, e.ExitCode);
        Assert.Contains("backend plugin 'throws'", e.Message);
        Assert.Contains("Throwing.Backend.dll", e.Message);
        Assert.Contains("failed in Emit: InvalidOperationException: register file overflow", e.Message);
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
        BackendRun.Emit(catalog.Get("count"), model, "archnet", dir.Path, diagnostics);
        Assert.Equal("2", File.ReadAllText(Path.Combine(dir.Path, "count.txt")));
    }

    [Fact]
    public void EmitReturningNothing_FailsThatCompile_NamingThePlugin()
    {
        var diagnostics = new CollectingDiagnostics();
        using var catalog = Catalog(diagnostics, "Empty.Backend");
        using var dir = new TempDir();

        var e = Assert.Throws<ArchNetException>(() => BackendRun.Emit(catalog.Get("empty"), TinyModels.QuantizedConv(), "archnet", dir.Path, diagnostics));

        Assert.Equal(ExitCodes.PluginFailed, e.ExitCode);
        Assert.Contains("backend plugin 'empty'", e.Message);
        Assert.Contains("returned no artifacts from Emit", e.Message);
    }

    [Fact]
    public void WrongContractVersion_IsReportedAtDiscovery_AndFailsOnlyCompilesThatAskForIt()
    {
        var diagnostics = new CollectingDiagnostics();
        using var catalog = Catalog(diagnostics, "OldContract.Backend");

        var entry = Assert.Single(catalog.Entries, e => e.Name == "old-contract");
        Assert.False(entry.IsUsable);
        Assert.Contains("was built for backend contract version 0, but this archnetc speaks version 1", entry.Problem);
        Assert.Contains(diagnostics.Items, d => d.Severity == Severity.Warning && d.Message == entry.Problem);
        var e = Assert.Throws<ArchNetException>(() => catalog.Get("old-contract"));
        Assert.Equal(ExitCodes.PluginFailed, e.ExitCode);
        Assert.Contains("backend plugin 'old-contract'", e.Message);
        Assert.True(catalog.Get("count") is not null);
    }

    [Fact]
    public void MissingDependency_FailsThatCompile_NamingThePluginAndTheAssembly()
    {
        var diagnostics = new CollectingDiagnostics();
        using var catalog = Catalog(diagnostics, "MissingDependency.Backend");
        using var dir = new TempDir();
        var model = TinyModels.QuantizedConv();

        var e = Assert.Throws<ArchNetException>(() => BackendRun.Emit(catalog.Get("missing-dependency"), model, "archnet", dir.Path, diagnostics));

        Assert.Equal(ExitCodes.PluginFailed, e.ExitCode);
        Assert.Contains("backend plugin 'missing-dependency'", e.Message);
        Assert.Contains("a dependency is missing: Vendor.Dependency", e.Message);
        BackendRun.Emit(catalog.Get("count"), model, "archnet", dir.Path, diagnostics);
    }

    [Fact]
    public void UnknownBackend_ListsTheKnownOnes()
    {
        using var catalog = Catalog(new CollectingDiagnostics(), "Good.Backend");

        var e = Assert.Throws<ArchNetException>(() => catalog.Get("tflite"));

        Assert.Contains("unknown backend 'tflite' (known: count, good;", e.Message);
    }

    [Fact]
    public void MissingPluginFolder_IsAWarning_NotAFailure()
    {
        var diagnostics = new CollectingDiagnostics();
        using var catalog = BackendCatalog.Discover([new CountingBackend()], ["/nonexistent/plugins"], diagnostics, null);

        Assert.Single(catalog.Entries);
        Assert.Contains(diagnostics.Items, d => d.Message == "plugin folder '/nonexistent/plugins' does not exist");
    }

    /// <summary>A plugin's build output given under another folder name (the usual slip) loads nothing: said, with the layout
    /// and the fix; given as it should be, the same files load.</summary>
    [Fact]
    public void PluginFolder_HoldingNoPlugin_SaysHowAPluginIsLaidOut()
    {
        using var dir = new TempDir();
        var output = Path.Combine(dir.Path, "build-output");
        Directory.CreateDirectory(output);
        foreach (var f in Directory.GetFiles(Path.Combine(TinyModels.PluginRoot, "Good.Backend"))) File.Copy(f, Path.Combine(output, Path.GetFileName(f)));
        var diagnostics = new CollectingDiagnostics();
        using (var catalog = BackendCatalog.Discover([], [output], diagnostics, null)) Assert.Empty(catalog.Entries);
        var warning = Assert.Single(diagnostics.Items).Message;
        Assert.StartsWith($"plugin folder '{output}' holds no plugin: a plugin lives in DIR/NAME/NAME.dll (give DIR)", warning);
        Assert.Contains("Good.Backend.dll", warning);
        Assert.EndsWith("copy them into plugins/Good.Backend/ and give plugins", warning);

        var plugins = Path.Combine(dir.Path, "plugins");
        Directory.Move(output, Directory.CreateDirectory(plugins).FullName + "/Good.Backend");
        var fixedDiagnostics = new CollectingDiagnostics();
        using var fixedCatalog = BackendCatalog.Discover([], [plugins], fixedDiagnostics, null);
        Assert.Single(fixedCatalog.Entries, e => e.IsUsable);
        Assert.Empty(fixedDiagnostics.Items);
    }

    [Fact]
    public void BackendThatDoesNotServeTheTarget_IsRefused()
    {
        using var catalog = Catalog(new CollectingDiagnostics());
        using var dir = new TempDir();

        var e = Assert.Throws<ArchNetException>(() =>
            BackendRun.Emit(catalog.Get("count"), TinyModels.QuantizedConv(), "arm-ethos-u55", dir.Path, new CollectingDiagnostics()));

        Assert.Contains("does not serve target 'arm-ethos-u55' (it serves: reference-cpu, archnet)", e.Message);
    }
}

/// <summary>Records whether the Conv weight of the view it is handed carries float and integer data.</summary>
internal class WeightProbeBackend : IBackend
{
    public (bool Floats, bool Integers) WeightData { get; private set; }
    public string Name => "probe";
    public string Description => "records the weight data it sees";
    public int ContractVersion => BackendContract.Version;
    public IReadOnlyList<string> ServedTargets => ["*"];
    public IReadOnlyList<BackendDiagnostic> Validate(QuantizedGraph graph, string capability) => [];

    public IReadOnlyList<Artifact> Emit(QuantizedGraph graph, string outputDirectory)
    {
        var w = graph.Nodes[0].Input(1)!;
        WeightData = (w.FloatData is not null, w.IntegerData is not null);
        File.WriteAllText(Path.Combine(outputDirectory, "probe.txt"), "");
        return [new Artifact("probe.txt", "probe")];
    }
}

internal sealed class HostModelProbeBackend : WeightProbeBackend, IHostModelBackend;
