#!/bin/sh
set -e
export MYSQL_PWD="${MYSQL_ROOT_PASSWORD}"
mysql -h db -uroot -e "CREATE DATABASE IF NOT EXISTS notes"
PGPASSWORD="$DB_PASSWORD" psql -h pg -U notes -c "select 1"
# mysql -uroot -p"$MYSQL_ROOT_PASSWORD" (the old way)
exec php-fpm
