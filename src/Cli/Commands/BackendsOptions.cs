using System.CommandLine;
using ArchNet.Backends.Abstractions;
using ArchNet.Backends.Plugins;
using ArchNet.IR;

namespace ArchNet.Cli.Commands;

/// <summary>
/// What every command that picks a backend shares: the <c>--plugin-dir</c> option and the catalog of built-in
/// backends plus discovered plugins. The compile command adds <see cref="PluginDirOption"/> and calls
/// <see cref="Catalog"/>, then <c>catalog.Get(name)</c> and <see cref="BackendRun.Emit(IBackend, Model, string, string, IDiagnostics)"/>.
/// </summary>
internal static class BackendsOptions
{
    public static Option<string[]> PluginDirOption() => new("--plugin-dir")
    {
        Description = $"A folder of backend plugins (repeatable); {BackendCatalog.PluginPathVariable} adds more.",
        Arity = ArgumentArity.ZeroOrMore,
        AllowMultipleArgumentsPerToken = false,
    };

    /// <summary>The built-in backends, in the order <c>archnetc backends</c> lists them.</summary>
    public static IEnumerable<IBackend> BuiltIns() => ArchNet.Compiler.BuiltInBackends.All();

    public static BackendCatalog Catalog(IEnumerable<string> pluginDirs, IDiagnostics diagnostics) =>
        BackendCatalog.Discover(BuiltIns(), pluginDirs, diagnostics);
}
