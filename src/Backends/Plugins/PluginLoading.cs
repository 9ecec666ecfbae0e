using System.Reflection;
using ArchNet.Backends.Abstractions;
using McMaster.NETCore.Plugins;

namespace ArchNet.Backends.Plugins;

/// <summary>
/// Loads one plugin assembly into its own load context, sharing only the contract assembly with the host, and turns
/// every backend class in it into a catalog entry: usable and guarded, or broken with a one-line reason.
/// </summary>
internal static class PluginLoading
{
    private static readonly AssemblyName ContractAssembly = typeof(IBackend).Assembly.GetName();

    public static IEnumerable<BackendEntry> Load(string assemblyPath, List<IDisposable> loaders)
    {
        var label = Path.GetFileNameWithoutExtension(assemblyPath);
        PluginLoader loader;
        Assembly assembly;
        try
        {
            loader = PluginLoader.CreateFromAssemblyFile(assemblyPath, sharedTypes: [typeof(IBackend)],
                configure: c => c.PreferSharedTypes = true);
            loaders.Add(loader);
            assembly = loader.LoadDefaultAssembly();
        }
        catch (Exception e)
        {
            return [Broken(label, assemblyPath, $"could not be loaded: {Describe(e)}")];
        }

        // Checked before any type is touched: a plugin built against another contract may not even load its types.
        var contract = assembly.GetReferencedAssemblies().FirstOrDefault(a => a.Name == ContractAssembly.Name);
        if (contract is null)
            return [Broken(label, assemblyPath, $"does not reference {ContractAssembly.Name}; it is not a backend plugin")];
        if (contract.Version?.Major != ContractAssembly.Version?.Major)
            return [Broken(label, assemblyPath, VersionMessage(contract.Version?.Major ?? 0))];

        Type[] types;
        try
        {
            types = assembly.GetExportedTypes();
        }
        catch (Exception e)
        {
            return [Broken(label, assemblyPath, $"could not be loaded: {Describe(e)}")];
        }
        var backendTypes = types.Where(t => t is { IsClass: true, IsAbstract: false } && typeof(IBackend).IsAssignableFrom(t)).ToList();
        if (backendTypes.Count == 0)
            return [Broken(label, assemblyPath, "has no public class implementing IBackend")];

        var entries = new List<BackendEntry>();
        foreach (var type in backendTypes)
        {
            IBackend backend;
            string name;
            try
            {
                backend = (IBackend)(Activator.CreateInstance(type)
                    ?? throw new InvalidOperationException($"{type.FullName} could not be created"));
                name = backend.Name;
                if (backend.ContractVersion != BackendContract.Version)
                {
                    entries.Add(Broken(name, assemblyPath, VersionMessage(backend.ContractVersion)));
                    continue;
                }
            }
            catch (Exception e)
            {
                entries.Add(Broken(label, assemblyPath, $"failed to start ({type.FullName}): {Describe(e)}"));
                continue;
            }
            entries.Add(new BackendEntry(name, BackendOrigin.Plugin, assemblyPath, new GuardedBackend(backend, $"backend plugin '{name}' ({assemblyPath})"), null));
        }
        return entries;

        string VersionMessage(int found) =>
            $"was built for backend contract version {found}, but this archnetc speaks version {BackendContract.Version}: " +
            $"rebuild it against {ContractAssembly.Name} {BackendContract.Version}.x";
    }

    private static BackendEntry Broken(string name, string path, string why) =>
        new(name, BackendOrigin.Plugin, path, null, $"backend plugin '{name}' ({path}) {why}");

    /// <summary>One line: the innermost meaningful exception, with a missing file named.</summary>
    internal static string Describe(Exception e)
    {
        while (e is TargetInvocationException or TypeInitializationException && e.InnerException is not null) e = e.InnerException!;
        if (e is ReflectionTypeLoadException rtle && rtle.LoaderExceptions.FirstOrDefault(x => x is not null) is { } first) e = first;
        return e switch
        {
            FileNotFoundException f => $"a dependency is missing: {f.FileName ?? f.Message}",
            FileLoadException f => $"a dependency could not be loaded: {f.FileName ?? f.Message}",
            _ => $"{e.GetType().Name}: {FirstLine(e.Message)}",
        };
    }

    private static string FirstLine(string s) => s.Split('\n', 2)[0].Trim();
}
