module acme/api

go 1.23
