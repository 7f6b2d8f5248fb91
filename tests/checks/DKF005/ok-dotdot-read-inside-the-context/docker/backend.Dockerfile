FROM golang:1.23.3-alpine AS build
WORKDIR /src
COPY ../go.work ../go.work.sum ./
COPY ../backend ./backend
RUN cd backend && go build -o /out/backend .

FROM alpine:3.20.3
COPY --from=build /out/backend /usr/local/bin/backend
USER 10001
CMD ["backend"]
