using Microsoft.EntityFrameworkCore;

namespace AnimeSaasApi;

public class Anime
{
    public int Id { get; set; }
    public string Title { get; set; } = "";
    public string Season { get; set; } = "";
    public string Status { get; set; } = "announced";
}

public class AnimeDb(DbContextOptions<AnimeDb> options) : DbContext(options)
{
    public DbSet<Anime> Animes => Set<Anime>();

    protected override void OnModelCreating(ModelBuilder model) =>
        model.Entity<Anime>().ToTable("anime");
}
