#!/bin/sh
set -e
mysql -h db -uroot -p"${MYSQL_ROOT_PASSWORD}" \
  -e "CREATE DATABASE IF NOT EXISTS notes"
mysqladmin -h db -uroot -p"${MYSQL_ROOT_PASSWORD}" status
exec php-fpm
