-- Schéma initial, exécuté par MySQL au premier démarrage du volume.
CREATE TABLE IF NOT EXISTS anime (
  id INT AUTO_INCREMENT PRIMARY KEY,
  title VARCHAR(255) NOT NULL,
  season VARCHAR(16) NOT NULL,
  status ENUM('announced', 'airing', 'finished') NOT NULL DEFAULT 'announced',
  updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS recommendation (
  user_id INT NOT NULL,
  anime_id INT NOT NULL,
  score DECIMAL(5, 4) NOT NULL,
  computed_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (user_id, anime_id)
);
