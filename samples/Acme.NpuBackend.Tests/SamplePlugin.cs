namespace Acme.NpuBackend.Tests;

/// <summary>The sample plugin as a vendor ships it: its build output copied into ROOT/plugins/Acme.NpuBackend/.</summary>
internal static class SamplePlugin
{
    /// <summary>Installs the built plugin under <paramref name="root"/> and returns the folder to hand the host (the plugins' parent).</summary>
    public static string Install(string root)
    {
        var built = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "..", "Acme.NpuBackend", "bin",
            new DirectoryInfo(AppContext.BaseDirectory).Parent!.Name, "net10.0"));
        Assert.True(File.Exists(Path.Combine(built, "Acme.NpuBackend.dll")), $"sample plugin not built at {built}");
        var plugins = Path.Combine(root, "plugins");
        var folder = Directory.CreateDirectory(Path.Combine(plugins, "Acme.NpuBackend")).FullName;
        foreach (var f in Directory.GetFiles(built)) File.Copy(f, Path.Combine(folder, Path.GetFileName(f)));
        Assert.False(File.Exists(Path.Combine(folder, "ArchNet.Backends.Abstractions.dll"))); // the host supplies the contract
        return plugins;
    }
}
