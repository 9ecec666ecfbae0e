using System.CommandLine;
using ArchNet.Backends.Plugins;
using ArchNet.IR;

namespace ArchNet.Cli.Commands;

/// <summary>
/// <c>archnetc backends [--plugin-dir DIR]...</c>: every backend this archnetc can use, built-in or discovered in
/// plugin folders (and ARCHNET_PLUGIN_PATH), with the targets each serves. Broken plugins are listed with the reason,
/// and make the exit code non-zero so a vendor can check that a plugin loads.
/// </summary>
internal static class BackendsCommand
{
    public static Command Create()
    {
        var pluginDirs = BackendsOptions.PluginDirOption();
        var command = new Command("backends", "List the built-in backends and the backend plugins found, with the targets each serves.");
        command.Options.Add(pluginDirs);
        command.SetAction(parse =>
        {
            var diagnostics = new CollectingDiagnostics();
            using var catalog = BackendsOptions.Catalog(parse.GetValue(pluginDirs) ?? [], diagnostics);
            var rows = catalog.Entries.Select(e => (
                e.Name,
                Origin: e.Origin == BackendOrigin.BuiltIn ? "built-in" : "plugin",
                Targets: e.IsUsable ? string.Join(",", e.ServedTargets) : "-",
                What: e.IsUsable ? $"{e.Backend!.Description}{(e.Path is null ? "" : $" [{e.Path}]")}" : $"BROKEN: {e.Problem}")).ToList();
            var nameWidth = Math.Max(4, rows.Select(r => r.Name.Length).DefaultIfEmpty(0).Max());
            var targetWidth = Math.Max(7, rows.Select(r => r.Targets.Length).DefaultIfEmpty(0).Max());
            Console.Out.WriteLine($"{"name".PadRight(nameWidth)}  {"origin",-8}  {"targets".PadRight(targetWidth)}  description");
            foreach (var r in rows)
                Console.Out.WriteLine($"{r.Name.PadRight(nameWidth)}  {r.Origin,-8}  {r.Targets.PadRight(targetWidth)}  {r.What}");
            foreach (var d in diagnostics.Items.Where(d => !catalog.Entries.Any(e => e.Problem == d.Message)))
                Console.Error.WriteLine(d.ToString());
            return catalog.Entries.Any(e => !e.IsUsable) ? ExitCodes.PluginFailed : ExitCodes.Ok;
        });
        return command;
    }
}
