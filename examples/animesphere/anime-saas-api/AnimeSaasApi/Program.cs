using AnimeSaasApi;
using Microsoft.EntityFrameworkCore;

var builder = WebApplication.CreateBuilder(args);

var connection = builder.Configuration.GetConnectionString("DefaultConnection");
builder.Services.AddDbContext<AnimeDb>(options =>
    options.UseMySql(connection, new MySqlServerVersion(new Version(8, 0, 36))));
builder.Services.AddEndpointsApiExplorer();
builder.Services.AddSwaggerGen();
builder.Services.AddHealthChecks().AddDbContextCheck<AnimeDb>();

var app = builder.Build();

app.UseSwagger();
app.UseSwaggerUI();

app.MapHealthChecks("/health");

app.MapGet("/api/animes", async (AnimeDb db, string? season) =>
    await db.Animes
        .Where(a => season == null || a.Season == season)
        .OrderBy(a => a.Title)
        .ToListAsync());

app.MapGet("/api/animes/{id:int}", async (AnimeDb db, int id) =>
    await db.Animes.FindAsync(id) is { } anime ? Results.Ok(anime) : Results.NotFound());

app.Run();

public partial class Program { }
